#include "layernorm_step.h"

#include "../core/batchnorm.h"
#include "dispatch.h"
#include "layernorm_api.h"
#include "workspace.h"

namespace regcore { namespace cpu {

namespace {

struct LnStepTag;   // the working arrays of ln_forward / ln_backward (8 bytes hold either compute dtype)

// gamma / beta as compute-dtype values (an exact widening through own[0, L) into own[L, 2L), or
// the caller's own array when it already is of that dtype): norms.py's _compute_values.
const void* compute_values(DType cd, DType pdt, const void* p, int64_t L, double* own) {
  if (!p || pdt == cd) return p;
  const auto& cv = active_convert_table();
  cv.to_f64(pdt, p, own, L);
  cv.from_f64(cd, own, own + L, L);
  return own + L;
}

// norms.py's _layer_saved per row (core/batchnorm.h ln_row_coef): the float64 rstd and the
// mean split / rstd rounded to the compute type F.
template <class F>
void row_coefs(int64_t R, const double* mean, const double* var, double eps, double* rstd, F* mhi, F* mlo, F* rs) {
  for (int64_t r = 0; r < R; ++r) {
    const LnRowCoef<F> c = ln_row_coef<F>(mean[r], var[r], eps);
    rstd[r] = c.rstd;
    mhi[r] = c.mhi;
    mlo[r] = c.mlo;
    rs[r] = c.rs;
  }
}

}  // namespace

void ln_forward(DType dt, const void* x, void* y, int64_t R, int64_t L, DType pdt, const void* gamma,
                const void* beta, double eps, double* mean, double* var) {
  if (R == 0 || L == 0) {   // _moments of an empty view: zeros, and nothing to normalize
    for (int64_t r = 0; r < R; ++r) mean[r] = var[r] = 0.0;
    return;
  }
  const DType cd = compute_dtype(dt);
  Workspace<LnStepTag> ws((gamma || beta) && pdt != cd ? size_t(4 * L) : 0);
  double* w = (gamma || beta) && pdt != cd ? ws.data() : nullptr;
  const LnCoef k{nullptr, nullptr, nullptr, compute_values(cd, pdt, gamma, L, w),
                 compute_values(cd, pdt, beta, L, w ? w + 2 * L : nullptr)};
  ln_forward_rows(dt, x, y, R, L, k, eps, mean, var);
}

void ln_backward(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, DType pdt,
                 const void* gamma, const void* beta, const double* mean, const double* var, double eps,
                 void* dgamma, void* dbeta) {
  const auto& cv = active_convert_table();
  // col (2L) | gamma, beta as compute values (2L each) | rstd, mhi, mlo, rs (4R)
  Workspace<LnStepTag> ws(size_t(6 * L + 4 * R));
  double* w = ws.data();
  double* col = w;
  if (R > 0 && L > 0) {
    const DType cd = compute_dtype(dt);
    double* rstd = w + 6 * L;
    double *mhi = rstd + R, *mlo = mhi + R, *rs = mlo + R;
    if (cd == DType::f32)
      row_coefs(R, mean, var, eps, rstd, reinterpret_cast<float*>(mhi), reinterpret_cast<float*>(mlo),
                reinterpret_cast<float*>(rs));
    else
      row_coefs(R, mean, var, eps, rstd, mhi, mlo, rs);
    const LnCoef k{mhi, mlo, rs, compute_values(cd, pdt, gamma, L, w + 2 * L),
                   compute_values(cd, pdt, beta, L, w + 4 * L)};
    ln_backward_rows(dt, dy, x, dx, R, L, k, rstd, col);
  } else {
    for (int64_t i = 0; i < 2 * L; ++i) col[i] = 0.0;
  }
  if (dgamma) cv.from_f64(pdt, col, dgamma, L);
  if (dbeta) cv.from_f64(pdt, col + L, dbeta, L);
}

}}  // namespace regcore::cpu
