// The CPU thread pool (thread_pool.h has the contract, docs/threading.md the measurements).
//
// Claiming tasks. The current job is published in one 64-bit word, state_ = (epoch << 32) | next:
// the job's number and its next unclaimed task. A thread claims task i of job e by a compare-and-
// swap from (e, i) to (e, i + 1), after checking i < ntasks_. Because the epoch sits in the same
// word, a thread that read a finished job's state and was then descheduled cannot claim anything
// of a later job by mistake: its compare-and-swap fails. Publishing a job first moves state_ to
// (e, kPublishing) (nothing claimable), then writes the job's fields, then stores (e, 0), so the
// fields a claimer reads after a successful compare-and-swap belong to the job it claimed from
// (every access is sequentially consistent). The fields stay valid until the job's last task has
// finished, which cannot happen before the claimer's own task has.
//
// Nobody waits for a worker to show up: the calling thread claims tasks like the workers do and
// the call ends when every task has finished, so a worker that is asleep or descheduled when the
// call starts simply finds nothing left to claim. The only wait is for a task already running.
//
// Sleeping and waking. Idle workers spin for a bounded time (a new call right after the last one
// then starts without a system call), then sleep on their own condition variable with a
// `sleeping` flag set under its mutex; the publisher notifies only workers whose flag is set
// (store of state_ then load of the flag, against the worker's store of the flag then load of
// state_: sequentially consistent on both sides, so one of them sees the other). The calling
// thread waits for the last running tasks the same way.
#include "thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace regcore { namespace cpu {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kPublishing = 0xFFFFFFFFu;          // state index while a job is being set up
constexpr int64_t kMaxJobTasks = int64_t(1) << 31;      // tasks per job (32-bit index); more are grouped
constexpr size_t kWorkerStack = size_t(2) << 20;        // bytes; kernels keep large data on the heap

inline uint32_t epoch_of(uint64_t s) { return uint32_t(s >> 32); }
inline uint32_t index_of(uint64_t s) { return uint32_t(s); }
inline uint64_t pack(uint32_t e, uint32_t i) { return (uint64_t(e) << 32) | i; }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// True while this thread runs tasks of a pool call (as a worker, or as the calling thread): a
// parallel call from inside a task runs inline instead of waiting for the pool it occupies.
thread_local bool t_in_pool = false;

int read_cgroup_cpu_limit() {
  // cgroup v2: "max 100000" or "<quota> <period>"; v1: cfs_quota_us = -1 for no limit.
  long long quota = -1, period = 0;
  if (FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r")) {
    char q[32] = {0};
    if (std::fscanf(f, "%31s %lld", q, &period) == 2 && std::string(q) != "max") quota = std::atoll(q);
    std::fclose(f);
  } else if (FILE* fq = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r")) {
    if (std::fscanf(fq, "%lld", &quota) != 1) quota = -1;
    std::fclose(fq);
    if (FILE* fp = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r")) {
      if (std::fscanf(fp, "%lld", &period) != 1) period = 0;
      std::fclose(fp);
    }
  }
  if (quota <= 0 || period <= 0) return 0;
  return int((quota + period - 1) / period);
}

int detect_usable_cpus() {
  int n = 0;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
#endif
  if (n <= 0) n = int(sysconf(_SC_NPROCESSORS_ONLN));
  const int quota = read_cgroup_cpu_limit();
  if (quota > 0 && quota < n) n = quota;
  return n > 0 ? n : 1;
}

struct Worker {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<bool> sleeping{false};
  int index = 0;
  uint32_t seen = 0;  // epoch of the last job this worker looked at
};

class Pool {
 public:
  Pool() : threads_(detect_usable_cpus()) {
    pthread_atfork(&Pool::before_fork, &Pool::after_fork_parent, &Pool::after_fork_child);
  }

  static Pool& get() {
    // Never destroyed: workers may still be blocked on its mutexes when the process exits.
    static Pool* p = new Pool();
    return *p;
  }

  int threads() const { return threads_.load(); }

  void set_threads(int n) {
    const int limit = pool_thread_limit();
    if (n < 1 || n > limit)
      throw std::invalid_argument("n: expected an integer in [1, " + std::to_string(limit) +
                                  "] (4 x the machine's logical CPUs), got " + std::to_string(n));
    std::lock_guard<std::mutex> lk(submit_);
    const int started = ensure_workers(n - 1);
    if (started < n - 1) {
      threads_.store(started + 1);
      throw std::runtime_error("n: could only start " + std::to_string(started + 1) + " of " +
                               std::to_string(n) + " threads; using " + std::to_string(started + 1));
    }
    threads_.store(n);
  }

  int workers_started() {
    std::lock_guard<std::mutex> lk(workers_m_);
    return int(workers_.size());
  }

  PoolWait wait() const { return {worker_spin_us_.load(), caller_spin_us_.load()}; }
  void set_wait(PoolWait w) {
    if (w.worker_spin_us < 0 || w.worker_spin_us > 100000 || w.caller_spin_us < 0 || w.caller_spin_us > 100000)
      throw std::invalid_argument("spin: expected microseconds in [0, 100000]");
    worker_spin_us_.store(w.worker_spin_us);
    caller_spin_us_.store(w.caller_spin_us);
  }

  void run(int64_t ntasks, PoolTask task, void* ctx) {
    if (ntasks <= 0) return;
    const int threads = threads_.load();
    if (ntasks == 1 || threads <= 1 || t_in_pool) return run_inline(ntasks, task, ctx);
    std::unique_lock<std::mutex> lk(submit_, std::try_to_lock);
    if (!lk.owns_lock()) return run_inline(ntasks, task, ctx);  // another call holds the workers
    int helpers = int(std::min<int64_t>(threads - 1, ntasks - 1));
    helpers = std::min(helpers, ensure_workers(helpers));
    if (helpers <= 0) {
      lk.unlock();
      return run_inline(ntasks, task, ctx);
    }
    publish(uint32_t(ntasks), task, ctx, helpers);
    t_in_pool = true;
    claim_and_run(epoch_of(state_.load()));
    t_in_pool = false;
    wait_done();
    std::exception_ptr err = error_;
    error_ = nullptr;
    lk.unlock();
    if (err) std::rethrow_exception(err);
  }

 private:
  static void run_inline(int64_t ntasks, PoolTask task, void* ctx) {
    const bool outer = t_in_pool;
    t_in_pool = true;
    try {
      for (int64_t t = 0; t < ntasks; ++t) task(ctx, t);
    } catch (...) {
      t_in_pool = outer;
      throw;
    }
    t_in_pool = outer;
  }

  void publish(uint32_t ntasks, PoolTask task, void* ctx, int helpers) {
    const uint32_t e = epoch_of(state_.load()) + 1;
    state_.store(pack(e, kPublishing));
    task_.store(task);
    ctx_.store(ctx);
    ntasks_.store(ntasks);
    helpers_.store(helpers);
    pending_.store(ntasks);
    state_.store(pack(e, 0));
    for (int w = 0; w < helpers; ++w) {
      Worker* wk = workers_[size_t(w)];
      if (wk->sleeping.load()) {
        std::lock_guard<std::mutex> g(wk->m);
        wk->cv.notify_one();
      }
    }
  }

  // Claims and runs tasks of job e until none is left to claim.
  void claim_and_run(uint32_t e) {
    for (;;) {
      uint64_t s = state_.load();
      if (epoch_of(s) != e) return;
      const uint32_t i = index_of(s);
      if (i == kPublishing || i >= ntasks_.load()) return;
      if (!state_.compare_exchange_weak(s, s + 1)) continue;
      // (Only if this thread slept through 2^32 jobs between its load and its swap could the word
      // be a later job's with fewer tasks: then nothing was claimed.)
      if (i >= ntasks_.load()) return;
      PoolTask task = task_.load();
      void* ctx = ctx_.load();
      try {
        task(ctx, int64_t(i));
      } catch (...) {
        std::lock_guard<std::mutex> g(error_m_);
        if (!error_) error_ = std::current_exception();
      }
      if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
        std::lock_guard<std::mutex> g(done_m_);
        done_cv_.notify_one();
      }
    }
  }

  void wait_done() {
    if (pending_.load() == 0) return;
    const auto deadline = Clock::now() + std::chrono::microseconds(caller_spin_us_.load());
    for (int k = 0; pending_.load() != 0; ++k) {
      if ((k & 63) == 63 && Clock::now() >= deadline) break;
      cpu_relax();
    }
    if (pending_.load() == 0) return;
    std::unique_lock<std::mutex> g(done_m_);
    caller_sleeping_.store(true);
    done_cv_.wait(g, [this] { return pending_.load() == 0; });
    caller_sleeping_.store(false);
  }

  bool job_ready(const Worker& w) const {
    const uint64_t s = state_.load();
    return epoch_of(s) != w.seen && index_of(s) != kPublishing;
  }

  void worker_loop(Worker* w) {
    t_in_pool = true;
    auto spin_until = Clock::now() + std::chrono::microseconds(worker_spin_us_.load());
    for (;;) {
      // Wait for a job: spin until the deadline, then sleep until a publisher wakes us.
      for (int k = 0; !job_ready(*w); ++k) {
        if ((k & 63) == 63 && Clock::now() >= spin_until) {
          std::unique_lock<std::mutex> g(w->m);
          w->sleeping.store(true);
          w->cv.wait(g, [&] { return job_ready(*w); });
          w->sleeping.store(false);
          break;
        }
        cpu_relax();
      }
      const uint32_t e = epoch_of(state_.load());
      w->seen = e;
      if (w->index < helpers_.load()) {
        claim_and_run(e);
        spin_until = Clock::now() + std::chrono::microseconds(worker_spin_us_.load());
      }
    }
  }

  static void* worker_entry(void* arg) {
    Worker* w = static_cast<Worker*>(arg);
    Pool::get().worker_loop(w);
    return nullptr;
  }

  // Makes sure `want` workers exist (called with submit_ held); returns how many exist.
  int ensure_workers(int want) {
    std::lock_guard<std::mutex> lk(workers_m_);
    while (int(workers_.size()) < want) {
      Worker* w = new Worker();
      w->index = int(workers_.size());
      w->seen = epoch_of(state_.load());
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      pthread_attr_setstacksize(&attr, kWorkerStack);
      pthread_t tid;
      const int rc = pthread_create(&tid, &attr, &Pool::worker_entry, w);
      pthread_attr_destroy(&attr);
      if (rc != 0) {
        delete w;
        break;
      }
      workers_.push_back(w);
    }
    return int(workers_.size());
  }

  // fork(): the child has only the forking thread. Wait for a running call to end (so no job is
  // half done in the child's copy), then give the child a pool without workers.
  static void before_fork() {
    Pool& p = get();
    if (!t_in_pool) p.submit_.lock();
  }
  static void after_fork_parent() {
    Pool& p = get();
    if (!t_in_pool) p.submit_.unlock();
  }
  static void after_fork_child() {
    Pool& p = get();
    // The parent's workers do not exist here; their objects are left as they are (a mutex may be
    // held by a thread that is gone). Fresh synchronization objects for everything else.
    new (&p.workers_) std::vector<Worker*>();
    new (&p.workers_m_) std::mutex();
    new (&p.submit_) std::mutex();
    new (&p.done_m_) std::mutex();
    new (&p.done_cv_) std::condition_variable();
    new (&p.error_m_) std::mutex();
    p.caller_sleeping_.store(false);
    p.pending_.store(0);
    p.helpers_.store(0);
    p.error_ = nullptr;
  }

  std::atomic<int> threads_;
  std::atomic<int> worker_spin_us_{50};
  std::atomic<int> caller_spin_us_{20};

  std::mutex submit_;                 // held by the call that uses the workers
  std::mutex workers_m_;
  std::vector<Worker*> workers_;

  // The current job.
  std::atomic<uint64_t> state_{0};
  std::atomic<PoolTask> task_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<uint32_t> ntasks_{0};
  std::atomic<int> helpers_{0};
  std::atomic<int64_t> pending_{0};
  std::mutex error_m_;
  std::exception_ptr error_;

  std::mutex done_m_;
  std::condition_variable done_cv_;
  std::atomic<bool> caller_sleeping_{false};
};

// More than kMaxJobTasks tasks: one job task runs a group of consecutive tasks.
struct Grouped {
  PoolTask task;
  void* ctx;
  int64_t group, ntasks;
};
void run_group(void* p, int64_t g) {
  const Grouped& G = *static_cast<const Grouped*>(p);
  const int64_t b = g * G.group, e = std::min(b + G.group, G.ntasks);
  for (int64_t t = b; t < e; ++t) G.task(G.ctx, t);
}

}  // namespace

void pool_run(int64_t ntasks, PoolTask task, void* ctx) {
  if (ntasks < kMaxJobTasks) return Pool::get().run(ntasks, task, ctx);
  Grouped g{task, ctx, (ntasks + kMaxJobTasks - 2) / (kMaxJobTasks - 1), ntasks};
  Pool::get().run((ntasks + g.group - 1) / g.group, &run_group, &g);
}

int pool_threads() { return Pool::get().threads(); }
void pool_set_threads(int n) { Pool::get().set_threads(n); }
int pool_workers_started() { return Pool::get().workers_started(); }
PoolWait pool_wait() { return Pool::get().wait(); }
void pool_set_wait(PoolWait w) { Pool::get().set_wait(w); }

int usable_cpus() {
  static const int n = detect_usable_cpus();
  return n;
}

int pool_thread_limit() {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return int(4 * (online > 0 ? online : 1));
}

}}  // namespace regcore::cpu
