#include "random_api.h"

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  auto k = active_random_table().bits_u32;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(out, b, e, seed, offset); });
}
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float span, float hi) {
  auto k = active_random_table().uniform_f32;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(out, b, e, seed, offset, lo, span, hi); });
}
void fill_uniform(double* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span, double hi) {
  auto k = active_random_table().uniform_f64;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(out, b, e, seed, offset, lo, span, hi); });
}
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
  auto k = active_random_table().normal_f32;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(out, b, e, seed, offset, mean, std); });
}
void fill_normal(double* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  auto k = active_random_table().normal_f64;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(out, b, e, seed, offset, mean, std); });
}

}}  // namespace regcore::cpu
