// Weight init on the GPU: the same cases as csrc/bench/cases_init.cpp (write n, read nothing).
#include <cmath>

#include "../../cuda/init_api.h"
#include "../../cuda/random_api.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

constexpr uint64_t kSeed = 20240607;
constexpr int64_t kFanIn = 1024;

double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

template <class T, class Fill>
CaseSpec write_case(const char* kernel, const char* dtype, Fill fill) {
  return CaseSpec{
      "init", kernel, dtype, "cuda", false,
      sizeof(T) == 8 ? "write 8n" : "write 4n",
      [](int64_t n) { return n * int64_t(sizeof(T)); }, "0", no_state, "samples",
      [fill](int64_t n) {
        return make_cuda_run([out = DeviceBuffer<T>(n), n, fill](uintptr_t s) mutable { fill(out.data(), n, s); });
      },
      {}, {}, "(n/1024, 1024)"};
}

template <class T>
void trunc(T* p, int64_t n, uintptr_t s) {
  cuda::fill_trunc_normal(p, n, kSeed, 0, phi(-2.0), phi(2.0) - phi(-2.0), 0.0, 1.0, -2.0, 2.0, s);
}
template <class T>
void kaiming(T* p, int64_t n, uintptr_t s) {
  cuda::fill_normal(p, n, kSeed, 0, T(0), T(std::sqrt(2.0 / double(kFanIn))), s);
}

const Register r_trunc_f32{write_case<float>("trunc_normal", "float32", trunc<float>)};
const Register r_trunc_f64{write_case<double>("trunc_normal", "float64", trunc<double>)};
const Register r_kaiming_f32{write_case<float>("kaiming_normal", "float32", kaiming<float>)};
const Register r_kaiming_f64{write_case<double>("kaiming_normal", "float64", kaiming<double>)};

}  // namespace
}}  // namespace regcore::bench
