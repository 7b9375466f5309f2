// Parallel loops over fixed-size chunks, on regcore's thread pool (thread_pool.h).
//
// Chunk boundaries depend only on n and the chunk size, never on the thread count, and a chunk
// computes the same thing whichever thread runs it, so every per-chunk result (and every
// reduction combined in chunk order) is the same for 1, 2 or 64 threads. Which thread runs which
// chunk is decided at run time (chunks are claimed one at a time), so a thread that is
// descheduled or late does not hold back the others. A call of one chunk, or with one thread,
// runs on the calling thread without touching the pool.
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>

#include "thread_pool.h"

namespace regcore { namespace cpu {

// Elements per chunk for streaming kernels: large enough to amortize claiming a chunk, small
// enough that the last chunks balance threads and that a thread preempted inside a chunk holds
// little work. A multiple of every SIMD group (64 elements).
constexpr int64_t kStreamChunk = int64_t(1) << 16;
// Outputs of at least this many bytes are written with non-temporal stores (no read for
// ownership: the pass moves its minimum bytes, and the output would not stay in this core's L2
// anyway; skipping the read made a 25 MB batch-norm normalize 25% faster here). Smaller outputs
// keep ordinary stores (they are likely to be read again from cache).
constexpr int64_t kStreamMinBytes = int64_t(8) << 20;

inline int64_t chunk_count(int64_t n, int64_t chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

// body(t) for every t in [0, ntasks), on the pool (or inline for a single task / one thread).
template <class F>
void parallel_tasks(int64_t ntasks, F&& body) {
  if (ntasks <= 0) return;
  if (ntasks == 1 || pool_threads() == 1) {
    for (int64_t t = 0; t < ntasks; ++t) body(t);
    return;
  }
  using Body = std::remove_reference_t<F>;
  pool_run(ntasks, [](void* ctx, int64_t t) { (*static_cast<Body*>(ctx))(t); },
           const_cast<void*>(static_cast<const void*>(&body)));
}

// f(begin, end) for each chunk [c*chunk, min(n, (c+1)*chunk)).
template <class F>
void parallel_chunks(int64_t n, int64_t chunk, F&& f) {
  parallel_tasks(chunk_count(n, chunk), [&](int64_t c) {
    const int64_t b = c * chunk;
    f(b, (b + chunk < n) ? b + chunk : n);
  });
}

// Per-chunk partial results p[c] = f(c, begin, end), combined by the caller in chunk order.
template <class P, class F>
std::vector<P> parallel_chunk_partials(int64_t n, int64_t chunk, F&& f) {
  std::vector<P> partials(size_t(chunk_count(n, chunk)));
  P* out = partials.data();
  parallel_tasks(int64_t(partials.size()), [&](int64_t c) {
    const int64_t b = c * chunk;
    out[c] = f(c, b, (b + chunk < n) ? b + chunk : n);
  });
  return partials;
}

inline int max_threads() { return pool_threads(); }
inline void set_threads(int n) { pool_set_threads(n); }

}}  // namespace regcore::cpu
