// Weight init (csrc/cpu/init_api.h, csrc/cpu/random_api.h): write n elements, read nothing.
// trunc_normal(mean 0, std 1, a = -2, b = 2) is the inverse-CDF sampler of core/init_transforms.h;
// kaiming_normal_(mode="fan_in", nonlinearity="relu") on (n/1024, 1024) weights is the normal
// sampler with std = sqrt(2 / 1024), which is what regcore.init runs for it.
#include <cmath>
#include <cstdint>

#include "../cpu/init_api.h"
#include "../cpu/random_api.h"
#include "bench_case.h"
#include "buffer.h"

namespace regcore { namespace bench {
namespace {

constexpr uint64_t kSeed = 20240607;
constexpr int64_t kFanIn = 1024;

double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
int64_t zero(int64_t) { return 0; }

template <class T, class Fill>
CaseSpec write_case(const char* kernel, const char* dtype, Fill fill) {
  return CaseSpec{
      "init", kernel, dtype, "cpu", true,
      sizeof(T) == 8 ? "write 8n" : "write 4n",
      [](int64_t n) { return n * int64_t(sizeof(T)); }, "0", zero, "samples",
      [fill](int64_t n) {
        return make_run([out = Buffer<T>(n), n, fill]() mutable { fill(out.data(), n); });
      },
      {}, {}, "(n/1024, 1024)"};
}

// p_lo = Phi(a), p_span = Phi(b) - Phi(a) for the standard parent (regcore/_truncnorm.py).
template <class T>
void trunc(T* p, int64_t n) {
  cpu::fill_trunc_normal(p, n, kSeed, 0, phi(-2.0), phi(2.0) - phi(-2.0), 0.0, 1.0, -2.0, 2.0);
}
template <class T>
void kaiming(T* p, int64_t n) {
  cpu::fill_normal(p, n, kSeed, 0, T(0), T(std::sqrt(2.0 / double(kFanIn))));
}

const Register r_trunc_f32{write_case<float>("trunc_normal", "float32", trunc<float>)};
const Register r_trunc_f64{write_case<double>("trunc_normal", "float64", trunc<double>)};
const Register r_kaiming_f32{write_case<float>("kaiming_normal", "float32", kaiming<float>)};
const Register r_kaiming_f64{write_case<double>("kaiming_normal", "float64", kaiming<double>)};

}  // namespace
}}  // namespace regcore::bench
