// OpenMP over fixed-size chunks. Chunk boundaries depend only on n and the chunk size, never on
// the thread count, so every per-chunk result (and every reduction combined in chunk order) is
// the same for 1, 2 or 64 threads.
#pragma once
#include <cstdint>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace regcore { namespace cpu {

// Elements per chunk for streaming kernels: large enough to amortize scheduling, small enough
// to balance two threads on a few-MB tensor. A multiple of every SIMD group (64 elements).
constexpr int64_t kStreamChunk = int64_t(1) << 16;

inline int64_t chunk_count(int64_t n, int64_t chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

// f(begin, end) for each chunk [c*chunk, min(n, (c+1)*chunk)).
template <class F>
void parallel_chunks(int64_t n, int64_t chunk, F&& f) {
  const int64_t nchunks = chunk_count(n, chunk);
  if (nchunks == 0) return;
  if (nchunks == 1) { f(int64_t(0), n); return; }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t b = c * chunk;
    const int64_t e = (b + chunk < n) ? b + chunk : n;
    f(b, e);
  }
}

// Per-chunk partial results p[c] = f(c, begin, end), combined by the caller in chunk order.
template <class P, class F>
std::vector<P> parallel_chunk_partials(int64_t n, int64_t chunk, F&& f) {
  const int64_t nchunks = chunk_count(n, chunk);
  std::vector<P> partials(size_t(nchunks > 0 ? nchunks : 0));
  P* out = partials.data();
  if (nchunks == 1) { out[0] = f(int64_t(0), int64_t(0), n); return partials; }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t b = c * chunk;
    const int64_t e = (b + chunk < n) ? b + chunk : n;
    out[c] = f(c, b, e);
  }
  return partials;
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

}}  // namespace regcore::cpu
