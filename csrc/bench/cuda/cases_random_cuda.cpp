// Random draws on the GPU (csrc/cuda/random_api.h): write n elements, read nothing; the same
// cases, names and minimum bytes as csrc/bench/cases_random.cpp (csrc/bench/spec_random.h).
#include <cmath>

#include "../../cuda/random_api.h"
#include "../spec_random.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

using spec::kSeed;

template <class T, class Fill>
CaseSpec draw_case(const char* kernel, const char* dtype, Fill fill) {
  return spec::on_backend(spec::draw_spec<T>(kernel, dtype), "cuda", /*uses_isa=*/false, [fill](int64_t n) {
    return make_cuda_run([out = DeviceBuffer<T>(n), n, fill](uintptr_t s) mutable { fill(out.data(), n, s); });
  });
}

const Register r_bits{draw_case<uint32_t>("bits", "uint32", [](uint32_t* p, int64_t n, uintptr_t s) {
  cuda::fill_bits(p, n, kSeed, 0, s);
})};
const Register r_uniform_f32{draw_case<float>("uniform", "float32", [](float* p, int64_t n, uintptr_t s) {
  cuda::fill_uniform(DType::f32, p, n, kSeed, 0, 0.0, 1.0, double(std::nextafter(1.0f, 0.0f)), s);
})};
const Register r_uniform_f64{draw_case<double>("uniform", "float64", [](double* p, int64_t n, uintptr_t s) {
  cuda::fill_uniform(DType::f64, p, n, kSeed, 0, 0.0, 1.0, std::nextafter(1.0, 0.0), s);
})};
const Register r_normal_f32{draw_case<float>("normal", "float32", [](float* p, int64_t n, uintptr_t s) {
  cuda::fill_normal(DType::f32, p, n, kSeed, 0, 0.0, 1.0, s);
})};
const Register r_normal_f64{draw_case<double>("normal", "float64", [](double* p, int64_t n, uintptr_t s) {
  cuda::fill_normal(DType::f64, p, n, kSeed, 0, 0.0, 1.0, s);
})};
const Register r_uniform_bf16{draw_case<bfloat16_t>("uniform", "bfloat16", [](bfloat16_t* p, int64_t n, uintptr_t s) {
  cuda::fill_uniform(DType::bf16, p, n, kSeed, 0, 0.0, 1.0, 0.99609375, s);
})};
const Register r_normal_bf16{draw_case<bfloat16_t>("normal", "bfloat16", [](bfloat16_t* p, int64_t n, uintptr_t s) {
  cuda::fill_normal(DType::bf16, p, n, kSeed, 0, 0.0, 1.0, s);
})};

}  // namespace
}}  // namespace regcore::bench
