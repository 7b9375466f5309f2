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
#pragma once
#include <cstdint>

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

}}  // namespace regcore::cpu
