// Random-draw kernels, compiled once per ISA level (scalar, avx2, avx512) with that level's
// flags; REGCORE_ISA_TAG names the namespace the code lands in.
#include "stream_generate.h"
#include "../random_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

void bits(uint32_t* out, int64_t b, int64_t e, uint64_t seed, uint64_t off) {
  stream_generate(out, b, e, seed, off, BitsTransform{});
}
void uniform(DType dt, void* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, double lo, double span,
             double hi) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    stream_generate(static_cast<S*>(out), b, e, seed, off, uniform_transform<S>(lo, span, hi));
  });
}
void normal(DType dt, void* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, double mean, double std) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    stream_generate(static_cast<S*>(out), b, e, seed, off, normal_transform<S>(mean, std));
  });
}

}  // namespace

const cpu::RandomTable& random_table() {
  static const cpu::RandomTable table = {bits, uniform, normal};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
