#include "batchnorm_step.h"

#include <stdexcept>
#include <vector>

#include "batchnorm_api.h"
#include "batchnorm_channels.h"
#include "dispatch.h"

namespace regcore { namespace cpu {

namespace {

// The per-channel coefficients of one pass (batchnorm_channels.h): arrays of the compute dtype
// (float32 or float64), so 8 bytes per channel hold either.
struct Coefs {
  explicit Coefs(int64_t C)
      : rstd(size_t(C)), mhi(size_t(C)), mlo(size_t(C)), scale(size_t(C)), shift(size_t(C)) {}
  std::vector<double> rstd, mhi, mlo, scale, shift;
  BnCoef kernel() const { return {mhi.data(), mlo.data(), scale.data(), shift.data()}; }
};

// batchnorm.py's _saved_state: the coefficients of the normalize kernel for (mean, var).
Coefs coefficients(DType dt, int64_t C, const double* mean, const double* var, DType pdt, const void* gamma,
                   const void* beta, double eps) {
  Coefs k(C);
  bn_coefficients(dt, C, mean, var, pdt, gamma, beta, eps, k.rstd.data(), k.mhi.data(), k.mlo.data(),
                  k.scale.data(), k.shift.data());
  return k;
}

}  // namespace

void bn_forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, DType pdt, const void* gamma,
                const void* beta, double eps, bool relu, bool batch_stats, DType rdt, void* running_mean,
                void* running_var, double factor, double* mean, double* var) {
  if (!batch_stats) {   // batchnorm.py's _batch_norm in inference: the running statistics as float64
    active_convert_table().to_f64(rdt, running_mean, mean, C);
    active_convert_table().to_f64(rdt, running_var, var, C);
    bn_normalize(dt, x, y, N, C, S, coefficients(dt, C, mean, var, pdt, gamma, beta, eps).kernel(), relu);
    return;
  }
  if (C > 0 && N * S <= 1)
    throw std::invalid_argument("x: expected more than one value per channel when training (batch statistics)");
  // batch_norm_stats -> _apply: (count, mean, M2) rows; var = M2 / n normalizes, M2 / (n - 1)
  // enters the running variance.
  std::vector<double> st(static_cast<size_t>(3 * C));
  bn_moments(dt, x, N, C, S, st.data());
  const double n = C > 0 ? st[0] : double(N * S);
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = st[size_t(C + c)];
    var[c] = st[size_t(2 * C + c)] / n;
  }
  bn_normalize(dt, x, y, N, C, S, coefficients(dt, C, mean, var, pdt, gamma, beta, eps).kernel(), relu);
  if (running_mean) {   // after the kernel, as in _apply
    std::vector<double> unbiased(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) unbiased[size_t(c)] = st[size_t(2 * C + c)] / (n - 1);
    bn_running_update(rdt, C, running_mean, mean, factor);
    bn_running_update(rdt, C, running_var, unbiased.data(), factor);
  }
}

void bn_backward(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S, DType pdt,
                 const void* gamma, const void* beta, const double* mean, const double* var, double eps, double count,
                 bool batch_stats, bool relu, void* dgamma, void* dbeta) {
  // batch_norm_backward on the state batch_norm_saved rebuilds: _reduce, then _grad_apply.
  const Coefs k = coefficients(dt, C, mean, var, pdt, gamma, beta, eps);
  const size_t c = static_cast<size_t>(C);
  std::vector<double> ka(c), kb(c), kc(c), dg(c), db(c);
  // ka, kb, kc hold compute_dtype(dt) values (8 bytes a channel holds either), gamma pdt values.
  const size_t cz = dtype_size(compute_dtype(dt)), pz = dtype_size(pdt);
  const auto at = [](void* p, int64_t c0, size_t z) { return static_cast<char*>(p) + size_t(c0) * z; };
  bn_grad_passes(dt, dy, x, dx, N, C, S, k.kernel(), BnGradCoef{ka.data(), kb.data(), kc.data()}, relu,
                 [&](int64_t c0, int64_t n, const double* red) {
                   bn_grad_coefficients(dt, n, k.rstd.data() + c0, pdt,
                                        gamma ? at(const_cast<void*>(gamma), c0, pz) : nullptr, red, count,
                                        batch_stats, at(ka.data(), c0, cz), at(kb.data(), c0, cz),
                                        at(kc.data(), c0, cz), dg.data() + c0, db.data() + c0);
                 });
  if (dgamma) active_convert_table().from_f64(pdt, dg.data(), dgamma, C);
  if (dbeta) active_convert_table().from_f64(pdt, db.data(), dbeta, C);
}

}}  // namespace regcore::cpu
