#include "random_api.h"

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  auto k = active_random_table().bits;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(out, b, e, seed, offset); });
}
void fill_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span,
                  double hi) {
  auto k = active_random_table().uniform;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dt, out, b, e, seed, offset, lo, span, hi); });
}
void fill_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  auto k = active_random_table().normal;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dt, out, b, e, seed, offset, mean, std); });
}

}}  // namespace regcore::cpu
