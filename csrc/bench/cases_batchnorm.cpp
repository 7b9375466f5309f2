// Batch normalization (csrc/cpu/batchnorm_api.h) on the layer shapes of the issue: NCHW
// (N, 64, 56, 56), the same channels-last (N, 56, 56, 64), and 2-D (N, 1024). n = N * C * H * W,
// so the cases run at the batch sizes their shape allows (N = 32 in a full run, the size).
//
// Each case is the whole pass as batch_norm / batch_norm_backward run it: the per-channel work
// between the array passes (coefficients from the moments, O(C) float64) is done here in C++, as
// the Python layer does it in NumPy, and is negligible next to the array passes.
// Minimum bytes (docs/batchnorm.md, B = bytes of x): training forward 3B (read x for the
// statistics, read x and write y), backward 5B (read dy, x for the reductions; read dy, x and
// write dx), inference 2B. Per-channel vectors are counted too (gamma, beta, running stats).
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../cpu/batchnorm_api.h"
#include "bench_case.h"
#include "buffer.h"

namespace regcore { namespace bench {
namespace {

constexpr double kEps = 1e-5;

struct Layout {
  const char* suffix;   // kernel name suffix
  const char* shape;    // for the report
  int64_t C, S;         // channels; spatial run length (1 for channels-last and 2-D)
  int64_t per_n;        // elements of one sample (N = n / per_n)
};
// NCHW: (N, C, S) rows kernels. Channels-last: N*H*W rows of C, the cols kernels (S = 1).
const Layout kNchw{"nchw", "(n/200704, 64, 56, 56)", 64, 56 * 56, 64 * 56 * 56};
const Layout kNhwc{"nhwc", "(n/200704, 56, 56, 64) channels-last", 64, 1, 64 * 56 * 56};
const Layout k2d{"nc", "(n/1024, 1024)", 1024, 1, 1024};

// One layer's arrays and per-channel vectors, set up once.
template <class T>
struct Layer {
  int64_t N, C, S;
  Buffer<T> x, y, dy, dx;
  std::vector<double> stats, red;
  std::vector<T> mhi, mlo, scale, shift, gamma, beta, ka, kb, kc;
  std::vector<double> rstd, mean, run_mean, run_var;

  Layer(const Layout& l, int64_t n, bool backward)
      : N(l.C * l.S > 0 ? n / (l.C * l.S) : 0), C(l.C), S(l.S),
        x(n, T(1)), y(n), dy(backward ? n : 1, T(0.5)), dx(backward ? n : 1),
        stats(3 * l.C), red(2 * l.C), mhi(l.C), mlo(l.C), scale(l.C), shift(l.C),
        gamma(l.C, T(1)), beta(l.C, T(0)), ka(l.C), kb(l.C), kc(l.C), rstd(l.C), mean(l.C, 1.0),
        run_mean(l.C, 0.0), run_var(l.C, 1.0) {
    // Distinct values so the statistics are not degenerate (x = 1 + small ramp per element).
    T* p = x.data();
    for (int64_t i = 0; i < n; ++i) p[i] = T(1) + T(i % 97) * T(0.01);
    set_coefficients(run_mean.data(), run_var.data());
  }
  // mhi + mlo = mean in two numbers of T; scale = gamma * rstd; shift = beta (core/batchnorm.h).
  void set_coefficients(const double* m, const double* var) {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = m[c];
      rstd[c] = 1.0 / std::sqrt(var[c] + kEps);
      mhi[c] = T(m[c]);
      mlo[c] = T(m[c] - double(mhi[c]));
      scale[c] = T(double(gamma[c]) * rstd[c]);
      shift[c] = beta[c];
    }
  }
  cpu::BnCoef<T> coef() const { return {mhi.data(), mlo.data(), scale.data(), shift.data()}; }

  void forward_train() {
    cpu::bn_moments<T>(x.data(), N, C, S, stats.data());
    std::vector<double> var(C);
    for (int64_t c = 0; c < C; ++c) {
      const double cnt = stats[c], m2 = stats[2 * C + c];
      var[c] = m2 / cnt;
      // running statistics: exponential average with momentum 0.1 and the unbiased variance
      run_mean[c] = 0.9 * run_mean[c] + 0.1 * stats[C + c];
      run_var[c] = 0.9 * run_var[c] + 0.1 * (cnt > 1 ? m2 / (cnt - 1) : var[c]);
    }
    set_coefficients(stats.data() + C, var.data());
    cpu::bn_normalize<T>(x.data(), y.data(), N, C, S, coef(), false);
  }
  void inference() { cpu::bn_normalize<T>(x.data(), y.data(), N, C, S, coef(), false); }
  void backward() {
    cpu::bn_grad_reduce<T>(dy.data(), x.data(), N, C, S, coef(), false, red.data());
    const double M = double(N) * double(S);
    for (int64_t c = 0; c < C; ++c) {
      const double a = double(gamma[c]) * rstd[c];
      ka[c] = T(a);
      kb[c] = T(-a * rstd[c] * rstd[c] * red[C + c] / M);
      kc[c] = T(-a * red[c] / M);
    }
    cpu::bn_grad_apply<T>(dy.data(), x.data(), dx.data(), N, C, S, coef(),
                          cpu::BnGradCoef<T>{ka.data(), kb.data(), kc.data()}, false);
  }
};

std::vector<int64_t> batches(const Layout& l, std::vector<int64_t> ns) {
  for (int64_t& v : ns) v *= l.per_n;
  return ns;
}

enum Pass { kForward, kBackward, kInference };

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
  // Saved for backward: float64 mean, var, rstd and four coefficient vectors of the data type;
  // x itself is the caller's (referenced, not copied).
  auto state = [pass, s, C](int64_t) -> int64_t { return pass == kForward ? 24 * C + 4 * s * C : 0; };
  const bool quick_small = l.C == 1024;
  return CaseSpec{
      "batchnorm", kernel, dtype, "cpu", true, formula, bytes,
      pass == kForward ? "24C + 4" + sz + "C (mean, var, rstd in float64; 4 coefficient vectors)" : "0",
      state, "elements",
      [l, pass](int64_t n) {
        if (n % l.per_n != 0)
          throw std::invalid_argument("n: batch norm case " + std::string(l.shape) +
                                      " needs a multiple of " + std::to_string(l.per_n));
        auto layer = std::make_shared<Layer<T>>(l, n, pass == kBackward);
        if (pass == kBackward) layer->forward_train();  // real statistics for the backward
        return make_run([layer, pass]() {
          if (pass == kForward) layer->forward_train();
          else if (pass == kBackward) layer->backward();
          else layer->inference();
        });
      },
      // Full run: the batch (N = 32 images; 256 rows for 2-D) and a cache-sized one.
      quick_small ? std::vector<int64_t>{64 * 1024, 256 * 1024} : batches(l, {1, 32}),
      quick_small ? std::vector<int64_t>{64 * 1024} : batches(l, {1}),
      l.shape};
}

#define REGCORE_BN_CASES(T, DT, SUF)                                                    \
  const Register r_fwd_nchw_##SUF{bn_case<T>(kNchw, kForward, DT)};                    \
  const Register r_bwd_nchw_##SUF{bn_case<T>(kNchw, kBackward, DT)};                   \
  const Register r_inf_nchw_##SUF{bn_case<T>(kNchw, kInference, DT)};                  \
  const Register r_fwd_nhwc_##SUF{bn_case<T>(kNhwc, kForward, DT)};                    \
  const Register r_bwd_nhwc_##SUF{bn_case<T>(kNhwc, kBackward, DT)};                   \
  const Register r_inf_nhwc_##SUF{bn_case<T>(kNhwc, kInference, DT)};                  \
  const Register r_fwd_nc_##SUF{bn_case<T>(k2d, kForward, DT)};                        \
  const Register r_bwd_nc_##SUF{bn_case<T>(k2d, kBackward, DT)};                       \
  const Register r_inf_nc_##SUF{bn_case<T>(k2d, kInference, DT)};

REGCORE_BN_CASES(float, "float32", f32)
REGCORE_BN_CASES(double, "float64", f64)

}  // namespace
}}  // namespace regcore::bench
