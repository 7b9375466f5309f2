// Batch normalization (csrc/cpu/batchnorm_api.h) on the layer shapes of the issue; the layouts,
// sizes and minimum bytes are shared with the CUDA cases in spec_batchnorm.h.
//
// Each case is the whole pass as batch_norm / batch_norm_backward run it: the per-channel work
// between the array passes (coefficients from the moments, O(C) float64) is done here in C++, as
// the Python layer does it in NumPy, and is negligible next to the array passes.
//
// T is the storage type of x, y, dy, dx; the coefficients and parameters are of F = compute_t<T>
// (float32 for the 16-bit formats: the "mixed" parameters, docs/precision.md).
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "../cpu/batchnorm_api.h"
#include "buffer.h"
#include "spec_batchnorm.h"

namespace regcore { namespace bench {
namespace {

using namespace spec;  // NOLINT: the family's layouts, passes and spec builder

constexpr double kEps = 1e-5;

// One layer's arrays and per-channel vectors, set up once.
template <class T>
struct Layer {
  using F = compute_t<T>;
  int64_t N, C, S;
  Buffer<T> x, y, dy, dx;
  std::vector<double> stats;
  std::vector<F> mhi, mlo, scale, shift, gamma, beta, ka, kb, kc;
  std::vector<double> rstd, mean, run_mean, run_var;

  Layer(const Layout& l, int64_t n, bool backward)
      : N(l.C * l.S > 0 ? n / (l.C * l.S) : 0), C(l.C), S(l.S),
        x(n, value_of<T>(1)), y(n, value_of<T>(0)), dy(backward ? n : 1, value_of<T>(0.5)),
        dx(backward ? n : 1, value_of<T>(0)),
        stats(3 * l.C), mhi(l.C), mlo(l.C), scale(l.C), shift(l.C),
        gamma(l.C, F(1)), beta(l.C, F(0)), ka(l.C), kb(l.C), kc(l.C), rstd(l.C), mean(l.C, 1.0),
        run_mean(l.C, 0.0), run_var(l.C, 1.0) {
    // Distinct values so the statistics are not degenerate (x = 1 + small ramp per element).
    T* p = x.data();
    for (int64_t i = 0; i < n; ++i) elem_store(p + i, F(1) + F(i % 97) * F(0.01));
    set_coefficients(run_mean.data(), run_var.data());
  }
  // mhi + mlo = mean in two numbers of T; scale = gamma * rstd; shift = beta (core/batchnorm.h).
  void set_coefficients(const double* m, const double* var) {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = m[c];
      rstd[c] = 1.0 / std::sqrt(var[c] + kEps);
      mhi[c] = F(m[c]);
      mlo[c] = F(m[c] - double(mhi[c]));
      scale[c] = F(double(gamma[c]) * rstd[c]);
      shift[c] = beta[c];
    }
  }
  cpu::BnCoef coef() const { return {mhi.data(), mlo.data(), scale.data(), shift.data()}; }

  void forward_train() {
    cpu::bn_moments(dtype_of<T>(), x.data(), N, C, S, stats.data());
    std::vector<double> var(C);
    for (int64_t c = 0; c < C; ++c) {
      const double cnt = stats[c], m2 = stats[2 * C + c];
      var[c] = m2 / cnt;
      // running statistics: exponential average with momentum 0.1 and the unbiased variance
      run_mean[c] = 0.9 * run_mean[c] + 0.1 * stats[C + c];
      run_var[c] = 0.9 * run_var[c] + 0.1 * (cnt > 1 ? m2 / (cnt - 1) : var[c]);
    }
    set_coefficients(stats.data() + C, var.data());
    cpu::bn_normalize(dtype_of<T>(), x.data(), y.data(), N, C, S, coef(), false);
  }
  void inference() { cpu::bn_normalize(dtype_of<T>(), x.data(), y.data(), N, C, S, coef(), false); }
  void statistics() { cpu::bn_moments(dtype_of<T>(), x.data(), N, C, S, stats.data()); }
  // The sums, the coefficients, dx: the passes of the library's backward (bn_grad_passes runs
  // them channel by channel where a channel fits the caches).
  void backward() {
    const double M = double(N) * double(S);
    cpu::bn_grad_passes(dtype_of<T>(), dy.data(), x.data(), dx.data(), N, C, S, coef(),
                        cpu::BnGradCoef{ka.data(), kb.data(), kc.data()}, false,
                        [&](int64_t c0, int64_t n, const double* r) {
                          for (int64_t c = c0; c < c0 + n; ++c) {
                            const double a = double(gamma[c]) * rstd[c];
                            ka[c] = F(a);
                            kb[c] = F(-a * rstd[c] * rstd[c] * r[n + c - c0] / M);
                            kc[c] = F(-a * r[c - c0] / M);
                          }
                        });
  }
};

template <class T>
CaseSpec bn_case(const Layout& l, Pass pass, const char* dtype) {
  return on_backend(bn_spec<T>(l, pass, dtype), "cpu", true, [l, pass](int64_t n) {
    check_batch(l, n);
    auto layer = std::make_shared<Layer<T>>(l, n, pass == kBackward);
    if (pass == kBackward) layer->forward_train();  // real statistics for the backward
    return make_run([layer, pass]() {
      if (pass == kForward) layer->forward_train();
      else if (pass == kBackward) layer->backward();
      else if (pass == kInference) layer->inference();
      else layer->statistics();
    });
  });
}

REGCORE_BN_REGISTER_CASES(float, "float32", f32)
REGCORE_BN_REGISTER_CASES(double, "float64", f64)
REGCORE_BN_REGISTER_CASES(bfloat16_t, "bfloat16", bf16)

}  // namespace
}}  // namespace regcore::bench
