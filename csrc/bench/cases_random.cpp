// Random draws (csrc/cpu/random_api.h). Each fills an output of n elements from the counter
// stream and reads nothing: the minimum traffic is the write of the output, so at DRAM sizes a
// draw that keeps up with the copy baseline's write half is at the memory wall, and anything
// slower is bound by Philox and the transform (the samples/s column shows which).
#include <cmath>

#include "../cpu/random_api.h"
#include "buffer.h"
#include "spec_random.h"

namespace regcore { namespace bench {
namespace {

using spec::kSeed;

template <class T, class Fill>
CaseSpec draw_case(const char* kernel, const char* dtype, Fill fill) {
  return spec::on_backend(spec::draw_spec<T>(kernel, dtype), "cpu", /*uses_isa=*/true, [fill](int64_t n) {
    return make_run([out = Buffer<T>(n, spec::value_of<T>(0)), n, fill]() mutable { fill(out.data(), n); });
  });
}

// U[0, 1): lo + span*u clamped below hi = nextafter(1, 0), as regcore.random.uniform passes it.
const Register r_bits{draw_case<uint32_t>("bits", "uint32", [](uint32_t* p, int64_t n) {
  cpu::fill_bits(p, n, kSeed, 0);
})};
const Register r_uniform_f32{draw_case<float>("uniform", "float32", [](float* p, int64_t n) {
  cpu::fill_uniform(DType::f32, p, n, kSeed, 0, 0.0, 1.0, double(std::nextafter(1.0f, 0.0f)));
})};
const Register r_uniform_f64{draw_case<double>("uniform", "float64", [](double* p, int64_t n) {
  cpu::fill_uniform(DType::f64, p, n, kSeed, 0, 0.0, 1.0, std::nextafter(1.0, 0.0));
})};
const Register r_normal_f32{draw_case<float>("normal", "float32", [](float* p, int64_t n) {
  cpu::fill_normal(DType::f32, p, n, kSeed, 0, 0.0, 1.0);
})};
const Register r_normal_f64{draw_case<double>("normal", "float64", [](double* p, int64_t n) {
  cpu::fill_normal(DType::f64, p, n, kSeed, 0, 0.0, 1.0);
})};
// bfloat16: hi = the largest bfloat16 below 1 (1 - 2^-8)
const Register r_uniform_bf16{draw_case<bfloat16_t>("uniform", "bfloat16", [](bfloat16_t* p, int64_t n) {
  cpu::fill_uniform(DType::bf16, p, n, kSeed, 0, 0.0, 1.0, 0.99609375);
})};
const Register r_normal_bf16{draw_case<bfloat16_t>("normal", "bfloat16", [](bfloat16_t* p, int64_t n) {
  cpu::fill_normal(DType::bf16, p, n, kSeed, 0, 0.0, 1.0);
})};

}  // namespace
}}  // namespace regcore::bench
