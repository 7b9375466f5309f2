#include "groupnorm_channels.h"

#include <vector>

#include "dispatch.h"

namespace regcore { namespace cpu {

// Each expression is written as its Python twin (_norm_stats.group_grad_coefficients) parses:
// `-(rs * rs * rs) * (a2 / m)` is (-((rs * rs) * rs)) * (a2 / m).

void gn_param_grads(int64_t N, int64_t C, int64_t G, const double* rstd, const double* red, bool batch_stats,
                    double* dgamma, double* dbeta) {
  const int64_t Cg = G > 0 ? C / G : 0, NC = N * C;
  const double* sdy = red;
  const double* sdyx = red + NC;
  // the statistics' rstd of (n, c): its group's, or its channel's for constant statistics
  auto r = [&](int64_t n, int64_t c) { return batch_stats ? rstd[n * G + c / Cg] : rstd[c]; };
  for (int64_t c = 0; c < C; ++c) {
    double dg = N > 0 ? r(0, c) * sdyx[c] : 0.0, db = N > 0 ? sdy[c] : 0.0;
    for (int64_t n = 1; n < N; ++n) {
      dg += r(n, c) * sdyx[n * C + c];
      db += sdy[n * C + c];
    }
    dgamma[c] = dg;
    dbeta[c] = db;
  }
}

void gn_grad_coefficients(DType dt, int64_t N, int64_t C, int64_t G, const double* rstd, DType pdt,
                          const void* gamma, const double* red, double count, bool batch_stats, void* ka, void* kb,
                          void* kc, double* dgamma, double* dbeta) {
  const auto& cv = active_convert_table();
  const DType cd = compute_dtype(dt);
  const int64_t Cg = G > 0 ? C / G : 0, NC = N * C;
  const double* sdy = red;
  const double* sdyx = red + NC;
  std::vector<double> g(static_cast<size_t>(C), 1.0);
  if (gamma) cv.to_f64(pdt, gamma, g.data(), C);
  auto r = [&](int64_t n, int64_t c) { return batch_stats ? rstd[n * G + c / Cg] : rstd[c]; };
  std::vector<double> a(static_cast<size_t>(NC)), b(static_cast<size_t>(NC), 0.0), k(static_cast<size_t>(NC), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) a[size_t(n * C + c)] = g[size_t(c)] * r(n, c);
  if (batch_stats) {
    // d xhat = gamma * dy: the group sums of gamma*dy and gamma*dy*xc give the two per-(n, g)
    // constants of dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
    for (int64_t n = 0; n < N; ++n)
      for (int64_t q = 0; q < G; ++q) {
        const int64_t c0 = q * Cg, i0 = n * C + c0;
        double vb, vc;
        gn_set_dx_constants(g.data() + c0, sdy + i0, sdyx + i0, Cg, rstd[n * G + q], count, &vb, &vc);
        for (int64_t j = 0; j < Cg; ++j) {
          b[size_t(i0 + j)] = vb;
          k[size_t(i0 + j)] = vc;
        }
      }
  }
  gn_param_grads(N, C, G, rstd, red, batch_stats, dgamma, dbeta);
  cv.from_f64(cd, a.data(), ka, NC);
  cv.from_f64(cd, b.data(), kb, NC);
  cv.from_f64(cd, k.data(), kc, NC);
}

}}  // namespace regcore::cpu
