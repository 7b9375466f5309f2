// regcore's own CPU thread pool: the one place that starts threads (parallel.h is its interface
// for kernels; docs/threading.md explains the policy and the measurements behind it).
//
//  * One process-wide thread count (every calling thread sees the same setting).
//  * A call's tasks are claimed one at a time from a shared counter by the calling thread and the
//    workers it wakes, so a worker that is descheduled (or still asleep) when the call starts
//    leaves its share to the others instead of stalling the call; who runs a task never changes
//    what the task computes.
//  * Waiting is bounded spinning, then sleeping on a condition variable: idle workers do not
//    hold cores that other libraries (BLAS, PyTorch's pool, data loaders) need.
//  * One call at a time uses the workers; a second concurrent call (another Python thread) or a
//    nested one runs its tasks on its own calling thread.
//  * fork(): the child starts with no workers (they did not survive the fork) and creates new
//    ones on its first parallel call, so a forked data-loader worker can call regcore.
#pragma once
#include <cstdint>

namespace regcore { namespace cpu {

// task(ctx, t) for every t in [0, ntasks), each exactly once, on the calling thread and up to
// pool_threads() - 1 workers. Returns when every task has finished; an exception thrown by a
// task is rethrown here (the first one; the remaining tasks still run).
using PoolTask = void (*)(void* ctx, int64_t task);
void pool_run(int64_t ntasks, PoolTask task, void* ctx);

// Threads a parallel call may use, the calling thread included (>= 1). Process-wide.
int pool_threads();
// Sets it; throws std::invalid_argument unless 1 <= n <= pool_thread_limit(). Starts the workers
// it needs now, so a failure to start them is reported here (std::runtime_error, with the number
// that did start: the setting then stays at what is usable).
void pool_set_threads(int n);
// The highest thread count accepted: 4 x the logical CPUs of the machine. More threads than CPUs
// cannot make a memory-bound kernel faster, and every worker holds a stack.
int pool_thread_limit();
// The default thread count: the CPUs this process may run on (affinity mask, and a cgroup CPU
// quota where one is set), at least 1.
int usable_cpus();
// Workers started so far (they are started on demand, never stopped).
int pool_workers_started();

// Wait policy knobs, in microseconds: how long an idle worker spins before it sleeps, and how
// long a calling thread spins for the last tasks of its call before it sleeps.
struct PoolWait {
  int worker_spin_us;
  int caller_spin_us;
};
PoolWait pool_wait();
void pool_set_wait(PoolWait w);  // throws std::invalid_argument for negative or > 100000 values

}}  // namespace regcore::cpu
