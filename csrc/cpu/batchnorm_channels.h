// Per-channel float64 arithmetic between the batch-norm passes, for the native CPU backend: the
// normalize coefficients, the running-statistic update and the backward coefficients.
//
// These are the native twins of the Array API formulas in python/regcore/_norm_stats.py
// (coefficients, running_update, grad_coefficients), which the numpy backend and CUDA data use:
// the same IEEE operations in the same order (no FMA, correctly rounded sqrt and division), so
// both give the same bits, as tests/test_batchnorm.py checks. They exist for speed: on C = 1024
// channels the ~20 NumPy operations of those formulas cost about 35 µs a training step, more
// than the kernels of a (64, 1024) batch. O(C) scalar loops on the calling thread, in float64; arrays of
// the data's types are read and written through the active ISA's conversions (convert_table.h).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// dt is the data's dtype: mhi, mlo, scale, shift, ka, kb, kc are arrays of compute_dtype(dt) (the
// element formulas' type). gamma / beta are of pdt and may be null (1 and 0).

// rstd = 1 / sqrt(var + eps); mhi + mlo = mean split in two numbers of the compute type
// (core/batchnorm.h); scale = gamma * rstd; shift = beta, each rounded once.
void bn_coefficients(DType dt, int64_t C, const double* mean, const double* var, DType pdt, const void* gamma,
                     const void* beta, double eps, double* rstd, void* mhi, void* mlo, void* scale, void* shift);

// run = (1 - f) * run + f * batch computed in float64 and rounded once to run's dtype rdt, in place.
void bn_running_update(DType rdt, int64_t C, void* run, const double* batch, double factor);

// From the all-reduced sums red = (sum dy', sum dy'*xc) over `count` values per channel:
// ka = gamma*rstd, kb = -ka*rstd^2*sum(dy'*xc)/count, kc = -ka*sum(dy')/count (kb = kc = 0 when
// the statistics were constants), rounded once to the compute type; dgamma = sum(dy'*xc)*rstd and
// dbeta = sum(dy') in float64.
void bn_grad_coefficients(DType dt, int64_t C, const double* rstd, DType pdt, const void* gamma, const double* red,
                          double count, bool batch_stats, void* ka, void* kb, void* kc, double* dgamma,
                          double* dbeta);

}}  // namespace regcore::cpu
