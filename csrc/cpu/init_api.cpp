#include "init_api.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

void fill_trunc_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double p_lo,
                       double p_span, double mean, double scale, double lo, double hi) {
  auto k = active_init_table().trunc_normal;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(dt, out, b, e, seed, offset, p_lo, p_span, mean, scale, lo, hi);
  });
}

namespace {

// Rows per parallel chunk: enough work per task for small fan_in, a bounded scratch buffer.
int64_t rows_per_chunk(int64_t fan_in) {
  const int64_t target = int64_t(1) << 16;  // elements
  return fan_in >= target ? 1 : target / (fan_in > 0 ? fan_in : 1);
}

}  // namespace

// The zeros are written as zero bytes: +0.0 is all-zero bits in every float dtype.
void sparse_keep_smallest(DType dt, void* w, const uint32_t* keys, int64_t rows, int64_t fan_in, int64_t k) {
  const size_t es = size_t(dtype_size(dt));
  if (rows <= 0 || fan_in <= 0 || k >= fan_in) return;
  parallel_chunks(rows, rows_per_chunk(fan_in), [&](int64_t r0, int64_t r1) {
    // (key << 32 | column) is unique within a row, so "the k smallest pairs" is one threshold:
    // the k-th smallest composite. nth_element finds it in O(fan_in) per row.
    std::vector<uint64_t> comp(static_cast<size_t>(fan_in));
    for (int64_t r = r0; r < r1; ++r) {
      const uint32_t* kr = keys + r * fan_in;
      char* wr = static_cast<char*>(w) + size_t(r * fan_in) * es;
      if (k == 0) {
        std::memset(wr, 0, size_t(fan_in) * es);
        continue;
      }
      for (int64_t j = 0; j < fan_in; ++j) comp[size_t(j)] = (uint64_t(kr[j]) << 32) | uint64_t(j);
      std::nth_element(comp.begin(), comp.begin() + (k - 1), comp.end());
      const uint64_t kth = comp[size_t(k - 1)];
      for (int64_t j = 0; j < fan_in; ++j)
        if (((uint64_t(kr[j]) << 32) | uint64_t(j)) > kth) std::memset(wr + size_t(j) * es, 0, es);
    }
  });
}

}}  // namespace regcore::cpu
