#include "init_api.h"

#include <algorithm>
#include <vector>

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

void fill_trunc_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, double p_lo,
                       double p_span, double mean, double scale, double lo, double hi) {
  auto k = active_init_table().trunc_normal_f32;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(out, b, e, seed, offset, p_lo, p_span, mean, scale, lo, hi);
  });
}
void fill_trunc_normal(double* out, int64_t n, uint64_t seed, uint64_t offset, double p_lo,
                       double p_span, double mean, double scale, double lo, double hi) {
  auto k = active_init_table().trunc_normal_f64;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(out, b, e, seed, offset, p_lo, p_span, mean, scale, lo, hi);
  });
}

namespace {

// Rows per parallel chunk: enough work per task for small fan_in, a bounded scratch buffer.
int64_t rows_per_chunk(int64_t fan_in) {
  const int64_t target = int64_t(1) << 16;  // elements
  return fan_in >= target ? 1 : target / (fan_in > 0 ? fan_in : 1);
}

template <class T>
void keep_smallest(T* w, const uint32_t* keys, int64_t rows, int64_t fan_in, int64_t k) {
  if (rows <= 0 || fan_in <= 0 || k >= fan_in) return;
  parallel_chunks(rows, rows_per_chunk(fan_in), [&](int64_t r0, int64_t r1) {
    // (key << 32 | column) is unique within a row, so "the k smallest pairs" is one threshold:
    // the k-th smallest composite. nth_element finds it in O(fan_in) per row.
    std::vector<uint64_t> comp(static_cast<size_t>(fan_in));
    for (int64_t r = r0; r < r1; ++r) {
      const uint32_t* kr = keys + r * fan_in;
      T* wr = w + r * fan_in;
      if (k == 0) {
        std::fill(wr, wr + fan_in, T(0));
        continue;
      }
      for (int64_t j = 0; j < fan_in; ++j) comp[size_t(j)] = (uint64_t(kr[j]) << 32) | uint64_t(j);
      std::nth_element(comp.begin(), comp.begin() + (k - 1), comp.end());
      const uint64_t kth = comp[size_t(k - 1)];
      for (int64_t j = 0; j < fan_in; ++j)
        if (((uint64_t(kr[j]) << 32) | uint64_t(j)) > kth) wr[j] = T(0);
    }
  });
}

}  // namespace

void sparse_keep_smallest(float* w, const uint32_t* keys, int64_t rows, int64_t fan_in, int64_t k) {
  keep_smallest(w, keys, rows, fan_in, k);
}
void sparse_keep_smallest(double* w, const uint32_t* keys, int64_t rows, int64_t fan_in, int64_t k) {
  keep_smallest(w, keys, rows, fan_in, k);
}

}}  // namespace regcore::cpu
