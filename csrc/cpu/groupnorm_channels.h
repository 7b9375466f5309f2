// Per-(sample, channel) arithmetic between group norm's backward passes (instance norm's too:
// one group per channel), for the native CPU backend: the dx coefficients and the parameter
// gradients from the sums of bn_grad_reduce on the (1, N*C, S) view.
//
// The native twin of the Array API formula python/regcore/_norm_stats.py group_grad_coefficients
// (which the numpy backend and CUDA data run), as batchnorm_channels.h is of the batch-norm
// formulas: the same IEEE operations in the same order, no FMA. Its sums over the channels of a
// group and over the samples run in index order, starting from the first term; NumPy's sum does
// the same for groups of fewer than 8 channels and for the samples of more than one channel, but
// pairs the terms of longer contiguous sums (pairwise summation), so there the two agree to the
// rounding of a float64 sum rather than bit for bit (tests/test_norms.py checks both).
// Both of regcore's paths on one backend (phase by phase and gn_backward in one call) use the
// same function and so give the same bits. O(N*C) scalar loops on the calling thread.
//
// The per-set pieces below (gn_set_*) are the same formulas for one statistics set (one (sample,
// group), or one channel for constant statistics), for the fused passes (groupnorm_api.h) that
// compute a set's coefficients while its data sits in cache: no per-call N*C arrays.
#pragma once
#include <cstdint>

#include "../core/batchnorm.h"
#include "../core/dtype.h"

namespace regcore { namespace cpu {

// dt is the data's dtype: ka, kb, kc are N*C values of compute_dtype(dt). gamma: C values of pdt,
// or null (1). red: bn_grad_reduce's sums over the (1, N*C, S) view (sum dy[N*C], then sum
// dy*xc[N*C]). rstd: per (sample, group), N*G values, when batch_stats (statistics of x over
// `count` = (C/G)*S values each); otherwise per channel, C values (constants: kb = kc = 0).
// ka = gamma*rstd; kb = -(rstd^3) * sum(gamma*dy*xc)/count and kc = -rstd * sum(gamma*dy)/count
// over the group; dgamma[C] = sum over samples of rstd*sum(dy*xc), dbeta[C] = sum of sum(dy),
// in float64.
void gn_grad_coefficients(DType dt, int64_t N, int64_t C, int64_t G, const double* rstd, DType pdt,
                          const void* gamma, const double* red, double count, bool batch_stats, void* ka, void* kb,
                          void* kc, double* dgamma, double* dbeta);

// gn_grad_coefficients' dgamma[C], dbeta[C] alone (the sums over the samples, in sample order).
void gn_param_grads(int64_t N, int64_t C, int64_t G, const double* rstd, const double* red, bool batch_stats,
                    double* dgamma, double* dbeta);

// bn_coefficients (batchnorm_channels.h) for n channels that share the statistics (mean, var),
// in the compute type F: the float64 rstd (returned) and the split mean (core ln_row_coef: the
// same operations), scale[j] = F(g[j] * rstd) with g the channels' gamma as float64, and
// shift[j] = sh[j] (beta already in F).
template <class F>
double gn_set_coefficients(double mean, double var, double eps, const double* g, const F* sh, int64_t n, F* mhi,
                           F* mlo, F* scale, F* shift) {
  const LnRowCoef<F> r = ln_row_coef<F>(mean, var, eps);
  for (int64_t j = 0; j < n; ++j) {
    mhi[j] = r.mhi;
    mlo[j] = r.mlo;
    scale[j] = F(g[j] * r.rstd);
    shift[j] = sh[j];
  }
  return r.rstd;
}

// One group's dx constants from its channels' sums (sdy, sdyx: Cg values each) and gamma as
// float64 (g): a1 = sum g*sdy, a2 = sum g*sdyx in channel order from the first term, then
// vb = -(rs^3) * (a2 / count), vc = -rs * (a1 / count).
inline void gn_set_dx_constants(const double* g, const double* sdy, const double* sdyx, int64_t Cg, double rs,
                                double count, double* vb, double* vc) {
  double a1 = g[0] * sdy[0], a2 = g[0] * sdyx[0];
  for (int64_t j = 1; j < Cg; ++j) {
    a1 += g[j] * sdy[j];
    a2 += g[j] * sdyx[j];
  }
  *vb = (-((rs * rs) * rs)) * (a2 / count);
  *vc = (-rs) * (a1 / count);
}

}}  // namespace regcore::cpu
