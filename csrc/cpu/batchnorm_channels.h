// Per-channel float64 arithmetic between the batch-norm passes, for the native CPU backend: the
// normalize coefficients, the running-statistic update and the backward coefficients.
//
// These are the native twins of the Array API formulas in python/regcore/_norm_stats.py
// (coefficients, running_update, grad_coefficients), which the numpy backend and CUDA data use:
// the same IEEE operations in the same order (no FMA, correctly rounded sqrt and division), so
// both give the same bits, as tests/test_batchnorm.py checks. They exist for speed: on C = 1024
// channels the ~20 NumPy operations of those formulas cost about 35 µs a training step, more
// than the kernels of a (64, 1024) batch. O(C) scalar loops on the calling thread.
#pragma once
#include <cstdint>

namespace regcore { namespace cpu {

// rstd = 1 / sqrt(var + eps); mhi + mlo = mean split in two numbers of T (core/batchnorm.h);
// scale = T(gamma * rstd); shift = beta. gamma / beta may be null (1 and 0).
template <class T>
void bn_coefficients(int64_t C, const double* mean, const double* var, const T* gamma, const T* beta, double eps,
                     double* rstd, T* mhi, T* mlo, T* scale, T* shift);

// run = T((1 - f) * run + f * batch), in place.
template <class T> void bn_running_update(int64_t C, T* run, const double* batch, double factor);

// From the all-reduced sums red = (sum dy', sum dy'*xc) over `count` values per channel:
// ka = gamma*rstd, kb = -ka*rstd^2*sum(dy'*xc)/count, kc = -ka*sum(dy')/count (kb = kc = 0 when
// the statistics were constants), in T; dgamma = sum(dy'*xc)*rstd and dbeta = sum(dy') in float64.
template <class T>
void bn_grad_coefficients(int64_t C, const double* rstd, const T* gamma, const double* red, double count,
                          bool batch_stats, T* ka, T* kb, T* kc, double* dgamma, double* dbeta);

}}  // namespace regcore::cpu
