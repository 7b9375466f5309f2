// Random-draw kernels, compiled once per ISA level (scalar, avx2, avx512) with that level's
// flags; REGCORE_ISA_TAG names the namespace the code lands in.
#include "stream_generate.h"
#include "../random_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

void bits_u32(uint32_t* out, int64_t b, int64_t e, uint64_t seed, uint64_t off) {
  stream_generate(out, b, e, seed, off, BitsTransform{});
}
void uniform_f32(float* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, float lo,
                 float span, float hi) {
  stream_generate(out, b, e, seed, off, UniformF32Transform{lo, span, hi});
}
void uniform_f64(double* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, double lo,
                 double span, double hi) {
  stream_generate(out, b, e, seed, off, UniformF64Transform{lo, span, hi});
}
void normal_f32(float* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, float mean,
                float std) {
  stream_generate(out, b, e, seed, off, NormalF32Transform{mean, std});
}
void normal_f64(double* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, double mean,
                double std) {
  stream_generate(out, b, e, seed, off, NormalF64Transform{mean, std});
}

}  // namespace

const cpu::RandomTable& random_table() {
  static const cpu::RandomTable table = {bits_u32, uniform_f32, uniform_f64, normal_f32, normal_f64};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
