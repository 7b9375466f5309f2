// Batch normalization on the GPU (csrc/cuda/batchnorm_api.h): the same cases, names, sizes and
// minimum bytes as csrc/bench/cases_batchnorm.cpp. Timed: the array passes of each phase on one
// stream (training forward = moments + normalize; backward = reduce + apply; inference =
// normalize). The O(C) coefficient step between them (done by the Python layer in the caller's
// array library) is not in the device timing: coefficients are fixed device vectors here.
#include <stdexcept>
#include <string>
#include <vector>

#include "../../cuda/batchnorm_api.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

struct Layout {
  const char* suffix;
  const char* shape;
  int64_t C, S, per_n;
};
const Layout kNchw{"nchw", "(n/200704, 64, 56, 56)", 64, 56 * 56, 64 * 56 * 56};
const Layout kNhwc{"nhwc", "(n/200704, 56, 56, 64) channels-last", 64, 1, 64 * 56 * 56};
const Layout k2d{"nc", "(n/1024, 1024)", 1024, 1, 1024};

enum Pass { kForward, kBackward, kInference };

template <class T>
struct DeviceLayer {
  int64_t N, C, S;
  DeviceBuffer<T> x, y, dy, dx;
  DeviceBuffer<double> stats, red;
  DeviceBuffer<T> mhi, mlo, scale, shift, ka, kb, kc;  // zeros: the work does not depend on them
  DeviceLayer(const Layout& l, int64_t n)
      : N(n / (l.C * l.S)), C(l.C), S(l.S), x(n), y(n), dy(n), dx(n), stats(3 * l.C), red(2 * l.C),
        mhi(l.C), mlo(l.C), scale(l.C), shift(l.C), ka(l.C), kb(l.C), kc(l.C) {}
  cpu::BnCoef<T> coef() { return {mhi.data(), mlo.data(), scale.data(), shift.data()}; }
  void run(Pass p, uintptr_t s) {
    if (p == kForward) {
      cuda::bn_moments<T>(x.data(), N, C, S, stats.data(), s);
      cuda::bn_normalize<T>(x.data(), y.data(), N, C, S, coef(), false, s);
    } else if (p == kBackward) {
      cuda::bn_grad_reduce<T>(dy.data(), x.data(), N, C, S, coef(), false, red.data(), s);
      cuda::bn_grad_apply<T>(dy.data(), x.data(), dx.data(), N, C, S, coef(),
                             cpu::BnGradCoef<T>{ka.data(), kb.data(), kc.data()}, false, s);
    } else {
      cuda::bn_normalize<T>(x.data(), y.data(), N, C, S, coef(), false, s);
    }
  }
};

std::vector<int64_t> batches(const Layout& l, std::vector<int64_t> ns) {
  for (int64_t& v : ns) v *= l.per_n;
  return ns;
}

template <class T>
CaseSpec bn_case(const Layout& l, Pass pass, const char* dtype) {
  const int64_t s = sizeof(T);
  const int64_t C = l.C;
  std::string kernel = std::string(pass == kForward ? "forward_" : pass == kBackward ? "backward_" : "inference_") + l.suffix;
  std::string sz = std::to_string(s);
  std::string formula =
      pass == kForward ? "read " + sz + "n (stats) + read " + sz + "n + write " + sz + "n + 2" + sz + "C (gamma, beta)"
    : pass == kBackward ? "read 2x" + sz + "n (dy, x: sums) + read 2x" + sz + "n + write " + sz + "n + " + sz + "C (gamma) + 2" + sz + "C (dgamma, dbeta)"
                        : "read " + sz + "n + write " + sz + "n + 4" + sz + "C (gamma, beta, running mean, var)";
  formula += ", C = " + std::to_string(C);
  auto bytes = [pass, s, C](int64_t n) -> int64_t {
    if (pass == kForward) return 3 * s * n + 2 * s * C;
    if (pass == kBackward) return 5 * s * n + 3 * s * C;
    return 2 * s * n + 4 * s * C;
  };
  auto state = [pass, s, C](int64_t) -> int64_t { return pass == kForward ? 24 * C + 4 * s * C : 0; };
  const bool two_d = l.C == 1024;
  return CaseSpec{
      "batchnorm", kernel, dtype, "cuda", false, formula, bytes,
      pass == kForward ? "24C + 4" + sz + "C (mean, var, rstd in float64; 4 coefficient vectors)" : "0",
      state, "elements",
      [l, pass](int64_t n) {
        if (n % l.per_n != 0)
          throw std::invalid_argument("n: batch norm case " + std::string(l.shape) +
                                      " needs a multiple of " + std::to_string(l.per_n));
        auto layer = std::make_shared<DeviceLayer<T>>(l, n);
        return make_cuda_run([layer, pass](uintptr_t st) { layer->run(pass, st); });
      },
      two_d ? std::vector<int64_t>{64 * 1024, 256 * 1024} : batches(l, {1, 32}),
      two_d ? std::vector<int64_t>{64 * 1024} : batches(l, {1}),
      l.shape};
}

#define REGCORE_BN_CUDA_CASES(T, DT, SUF)                                  \
  const Register r_fwd_nchw_##SUF{bn_case<T>(kNchw, kForward, DT)};       \
  const Register r_bwd_nchw_##SUF{bn_case<T>(kNchw, kBackward, DT)};      \
  const Register r_inf_nchw_##SUF{bn_case<T>(kNchw, kInference, DT)};     \
  const Register r_fwd_nhwc_##SUF{bn_case<T>(kNhwc, kForward, DT)};       \
  const Register r_bwd_nhwc_##SUF{bn_case<T>(kNhwc, kBackward, DT)};      \
  const Register r_inf_nhwc_##SUF{bn_case<T>(kNhwc, kInference, DT)};     \
  const Register r_fwd_nc_##SUF{bn_case<T>(k2d, kForward, DT)};           \
  const Register r_bwd_nc_##SUF{bn_case<T>(k2d, kBackward, DT)};          \
  const Register r_inf_nc_##SUF{bn_case<T>(k2d, kInference, DT)};

REGCORE_BN_CUDA_CASES(float, "float32", f32)
REGCORE_BN_CUDA_CASES(double, "float64", f64)

}  // namespace
}}  // namespace regcore::bench
