#include "layernorm_step.h"

#include <cmath>
#include <vector>

#include "batchnorm_api.h"
#include "dispatch.h"
#include "layernorm_api.h"

namespace regcore { namespace cpu {

namespace {

// norms.py's _layer_saved: rstd = 1 / sqrt(var + eps) in float64; mean = mhi + mlo and rstd
// rounded to the compute dtype; gamma / beta as compute-dtype values (an exact widening, or the
// caller's own array when it already is of that dtype). 8 bytes per value hold either dtype.
struct LnState {
  std::vector<double> rstd, mhi, mlo, rstd_t, g, b;
  LnCoef coef{};
};

LnState ln_state(DType dt, int64_t R, int64_t L, DType pdt, const void* gamma, const void* beta, const double* mean,
                 const double* var, double eps) {
  const DType cd = compute_dtype(dt);
  const auto& cv = active_convert_table();
  LnState s;
  s.rstd.resize(size_t(R));
  s.mhi.resize(size_t(R));
  s.mlo.resize(size_t(R));
  s.rstd_t.resize(size_t(R));
  for (int64_t r = 0; r < R; ++r) s.rstd[size_t(r)] = 1.0 / std::sqrt(var[r] + eps);
  // _norm_stats.split_mean: mhi = mean rounded, mlo = (mean - mhi) rounded
  cv.from_f64(cd, mean, s.mhi.data(), R);
  std::vector<double> t(static_cast<size_t>(R));
  cv.to_f64(cd, s.mhi.data(), t.data(), R);
  for (int64_t r = 0; r < R; ++r) t[size_t(r)] = mean[r] - t[size_t(r)];
  cv.from_f64(cd, t.data(), s.mlo.data(), R);
  cv.from_f64(cd, s.rstd.data(), s.rstd_t.data(), R);
  auto values = [&](const void* p, std::vector<double>& own) -> const void* {
    if (!p || pdt == cd) return p;
    std::vector<double> wide(static_cast<size_t>(L));
    cv.to_f64(pdt, p, wide.data(), L);
    own.resize(size_t(L));
    cv.from_f64(cd, wide.data(), own.data(), L);
    return own.data();
  };
  s.coef = LnCoef{s.mhi.data(), s.mlo.data(), s.rstd_t.data(), values(gamma, s.g), values(beta, s.b)};
  return s;
}

}  // namespace

void ln_forward(DType dt, const void* x, void* y, int64_t R, int64_t L, DType pdt, const void* gamma,
                const void* beta, double eps, double* mean, double* var) {
  if (R == 0 || L == 0) {   // _moments of an empty view: zeros, and nothing to normalize
    for (int64_t r = 0; r < R; ++r) mean[r] = var[r] = 0.0;
    return;
  }
  std::vector<double> st(static_cast<size_t>(3 * R));
  bn_moments(dt, x, 1, R, L, st.data());
  for (int64_t r = 0; r < R; ++r) {
    mean[r] = st[size_t(R + r)];
    var[r] = st[size_t(2 * R + r)] / double(L);
  }
  const LnState s = ln_state(dt, R, L, pdt, gamma, beta, mean, var, eps);
  ln_normalize(dt, x, y, R, L, s.coef);
}

void ln_backward(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, DType pdt,
                 const void* gamma, const void* beta, const double* mean, const double* var, double eps,
                 void* dgamma, void* dbeta) {
  const auto& cv = active_convert_table();
  std::vector<double> col(size_t(2 * L), 0.0);
  if (R > 0 && L > 0) {
    const LnState s = ln_state(dt, R, L, pdt, gamma, beta, mean, var, eps);
    std::vector<double> row(static_cast<size_t>(2 * R));
    ln_grad_reduce(dt, dy, x, R, L, s.coef, row.data(), col.data());
    // kb = -(rs * rs * rs) * (sum g*dy*xc / L), kc = -rs * (sum g*dy / L), rounded once
    std::vector<double> kb(static_cast<size_t>(R)), kc(static_cast<size_t>(R));
    const double n = double(L);
    for (int64_t r = 0; r < R; ++r) {
      const double rs = s.rstd[size_t(r)];
      kb[size_t(r)] = (-((rs * rs) * rs)) * (row[size_t(2 * r + 1)] / n);
      kc[size_t(r)] = (-rs) * (row[size_t(2 * r)] / n);
    }
    const DType cd = compute_dtype(dt);
    // in the compute dtype: 8 bytes per row hold either
    std::vector<double> kb_t(static_cast<size_t>(R)), kc_t(static_cast<size_t>(R));
    cv.from_f64(cd, kb.data(), kb_t.data(), R);
    cv.from_f64(cd, kc.data(), kc_t.data(), R);
    ln_grad_apply(dt, dy, x, dx, R, L, s.coef, kb_t.data(), kc_t.data());
  }
  if (dgamma) cv.from_f64(pdt, col.data(), dgamma, L);
  if (dbeta) cv.from_f64(pdt, col.data() + L, dbeta, L);
}

}}  // namespace regcore::cpu
