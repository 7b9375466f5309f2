// Whole-array batch-normalization passes on the CPU over the (N, C, S) view: S > 1 runs the rows
// kernels (channel-first layouts), S == 1 the cols kernels ((N, C) and channels-last, with
// N = every axis but the last). Work is cut in pieces whose boundaries depend only on the shape,
// and per-piece results are combined in piece order: identical for any thread count.
#pragma once
#include <cstdint>

#include "batchnorm_table.h"

namespace regcore { namespace cpu {

// out[0:C] = count, out[C:2C] = mean, out[2C:3C] = M2 (sum of squared deviations), per channel.
template <class T> void bn_moments(const T* x, int64_t N, int64_t C, int64_t S, double* out);

// y = normalize(x) (core/batchnorm.h) with per-channel coefficients; relu fuses max(., 0).
template <class T>
void bn_normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu);

// out[0:C] = sum dy', out[C:2C] = sum dy' * (x - mean), per channel (dy' = dy masked by the ReLU).
template <class T>
void bn_grad_reduce(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu,
                    double* out);

// dx = ka*dy' + kb*(x - mean) + kc with per-channel ka, kb, kc.
template <class T>
void bn_grad_apply(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, BnCoef<T> k,
                   BnGradCoef<T> g, bool relu);

}}  // namespace regcore::cpu
