#include "groupnorm_step.h"

#include <cstring>
#include <vector>

#include "batchnorm_api.h"
#include "batchnorm_channels.h"
#include "dispatch.h"
#include "groupnorm_api.h"
#include "groupnorm_channels.h"
#include "workspace.h"

namespace regcore { namespace cpu {

namespace {

// N copies of the C values of a (dtype dt): per-channel values made per (sample, channel).
std::vector<unsigned char> spread_rows(DType dt, const void* a, int64_t N, int64_t C) {
  const size_t row = size_t(C) * size_t(dtype_size(dt));
  std::vector<unsigned char> out(row * size_t(N));
  for (int64_t n = 0; n < N; ++n) std::memcpy(out.data() + size_t(n) * row, a, row);
  return out;
}

// The normalize kernel's per-(n, c) coefficients (compute dtype: 8 bytes hold either) and the
// float64 rstd of each (n, c).
struct GroupCoefs {
  explicit GroupCoefs(int64_t NC)
      : rstd(size_t(NC)), mhi(size_t(NC)), mlo(size_t(NC)), scale(size_t(NC)), shift(size_t(NC)) {}
  std::vector<double> rstd, mhi, mlo, scale, shift;
  BnCoef kernel() const { return {mhi.data(), mlo.data(), scale.data(), shift.data()}; }
};

// _grouped_saved: each (n, c) takes the statistics of its group (batch_stats: mean / var hold
// N*G values) or of its channel (C values), and channel c's parameters.
GroupCoefs group_coefficients(DType dt, int64_t N, int64_t C, int64_t G, const double* mean, const double* var,
                              bool batch_stats, DType pdt, const void* gamma, const void* beta, double eps) {
  const int64_t Cg = C / G, NC = N * C;
  std::vector<double> mean_nc(static_cast<size_t>(NC)), var_nc(static_cast<size_t>(NC));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = batch_stats ? n * G + c / Cg : c;
      mean_nc[size_t(n * C + c)] = mean[i];
      var_nc[size_t(n * C + c)] = var[i];
    }
  const std::vector<unsigned char> g = gamma ? spread_rows(pdt, gamma, N, C) : std::vector<unsigned char>();
  const std::vector<unsigned char> b = beta ? spread_rows(pdt, beta, N, C) : std::vector<unsigned char>();
  GroupCoefs k(NC);
  bn_coefficients(dt, NC, mean_nc.data(), var_nc.data(), pdt, gamma ? g.data() : nullptr, beta ? b.data() : nullptr,
                  eps, k.rstd.data(), k.mhi.data(), k.mlo.data(), k.scale.data(), k.shift.data());
  return k;
}

struct StepTag;   // the fused passes' per-call parameter arrays

// What the fused passes take of the parameters, once per call (bn_coefficients' widening and
// rounding of them): g = gamma as float64 (1 without gamma), sh = beta rounded to the compute
// dtype (0 without beta), C values each, in one workspace.
struct FusedParams {
  FusedParams(DType dt, int64_t C, DType pdt, const void* gamma, const void* beta) : ws(size_t(3 * C)) {
    const auto& cv = active_convert_table();
    double* w = ws.data();
    g = w;
    if (gamma) cv.to_f64(pdt, gamma, w, C);
    else
      for (int64_t c = 0; c < C; ++c) w[c] = 1.0;
    double* b = w + C;
    if (beta) cv.to_f64(pdt, beta, b, C);
    else
      for (int64_t c = 0; c < C; ++c) b[c] = 0.0;
    cv.from_f64(compute_dtype(dt), b, w + 2 * C, C);
    sh = w + 2 * C;
  }
  Workspace<StepTag> ws;
  const double* g;
  const void* sh;
};

}  // namespace

void gn_forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, DType pdt,
                const void* gamma, const void* beta, double eps, double* mean, double* var) {
  const int64_t Cg = G > 0 ? C / G : 0, M = Cg * S, NG = N * G;
  if (M == 0 || NG == 0) {   // norms._moments of an empty view: zeros; nothing to normalize
    for (int64_t i = 0; i < NG; ++i) mean[i] = var[i] = 0.0;
    return;
  }
  if (gn_fusable(C, G, S)) {
    const FusedParams p(dt, C, pdt, gamma, beta);
    gn_forward_fused(dt, x, y, N, C, G, S, p.g, p.sh, eps, false, mean, var);
    return;
  }
  std::vector<double> st(static_cast<size_t>(3 * NG));
  bn_moments(dt, x, 1, NG, M, st.data());
  for (int64_t i = 0; i < NG; ++i) {
    mean[i] = st[size_t(NG + i)];
    var[i] = st[size_t(2 * NG + i)] / double(M);
  }
  const GroupCoefs k = group_coefficients(dt, N, C, G, mean, var, true, pdt, gamma, beta, eps);
  bn_normalize(dt, x, y, 1, N * C, S, k.kernel(), false);
}

void in_forward_running(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, DType pdt,
                        const void* gamma, const void* beta, DType rdt, const void* running_mean,
                        const void* running_var, double eps, double* mean, double* var) {
  active_convert_table().to_f64(rdt, running_mean, mean, C);
  active_convert_table().to_f64(rdt, running_var, var, C);
  if (N * C == 0 || S == 0) return;   // _grouped_forward normalizes only a non-empty x
  if (gn_fusable(C, C, S)) {
    const FusedParams p(dt, C, pdt, gamma, beta);
    gn_forward_fused(dt, x, y, N, C, C, S, p.g, p.sh, eps, true, mean, var);
    return;
  }
  const GroupCoefs k = group_coefficients(dt, N, C, C, mean, var, false, pdt, gamma, beta, eps);
  bn_normalize(dt, x, y, 1, N * C, S, k.kernel(), false);
}

void gn_backward(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t G, int64_t S,
                 DType pdt, const void* gamma, const void* beta, const double* mean, const double* var, double eps,
                 bool batch_stats, void* dgamma, void* dbeta) {
  const auto& cv = active_convert_table();
  const int64_t NC = N * C;
  std::vector<double> dg(static_cast<size_t>(C), 0.0), db(static_cast<size_t>(C), 0.0);
  if (NC > 0 && S > 0 && gn_fusable(C, G, S)) {
    const FusedParams p(dt, C, pdt, gamma, beta);
    gn_backward_fused(dt, dy, x, dx, N, C, G, S, p.g, p.sh, mean, var, eps, batch_stats, dg.data(), db.data());
  } else if (NC > 0 && S > 0) {   // an empty x: zero parameter gradients, nothing else (_grouped_backward_on)
    const GroupCoefs k = group_coefficients(dt, N, C, G, mean, var, batch_stats, pdt, gamma, beta, eps);
    std::vector<double> red(static_cast<size_t>(2 * NC));
    bn_grad_reduce(dt, dy, x, 1, NC, S, k.kernel(), false, red.data());
    // saved.rstd: per (n, g) that of the group's first channel (every channel of it has the
    // same), per channel that of sample 0's
    const int64_t Cg = C / G, nr = batch_stats ? N * G : C;
    std::vector<double> rstd(static_cast<size_t>(nr));
    for (int64_t i = 0; i < nr; ++i) rstd[size_t(i)] = k.rstd[size_t(batch_stats ? (i / G) * C + (i % G) * Cg : i)];
    std::vector<double> ka(static_cast<size_t>(NC)), kb(static_cast<size_t>(NC)), kc(static_cast<size_t>(NC));
    gn_grad_coefficients(dt, N, C, G, rstd.data(), pdt, gamma, red.data(), double(Cg * S), batch_stats, ka.data(),
                         kb.data(), kc.data(), dg.data(), db.data());
    bn_grad_apply(dt, dy, x, dx, 1, NC, S, k.kernel(), BnGradCoef{ka.data(), kb.data(), kc.data()}, false);
  }
  if (dgamma) cv.from_f64(pdt, dg.data(), dgamma, C);
  if (dbeta) cv.from_f64(pdt, db.data(), dbeta, C);
}

}}  // namespace regcore::cpu
