// Whole-array batch-normalization passes on the CPU over the (N, C, S) view: S > 1 runs the rows
// kernels (channel-first layouts), S == 1 the cols kernels ((N, C) and channels-last, with
// N = every axis but the last). Work is cut in pieces whose boundaries depend only on the shape,
// and per-piece results are combined in piece order: identical for any thread count.
#pragma once
#include <cstdint>
#include <functional>

#include "batchnorm_table.h"

namespace regcore { namespace cpu {

// dt (core/dtype.h) is the element type of x, y, dy, dx; the coefficient arrays are of
// compute_dtype(dt).

// out[0:C] = count, out[C:2C] = mean, out[2C:3C] = M2 (sum of squared deviations), per channel.
void bn_moments(DType dt, const void* x, int64_t N, int64_t C, int64_t S, double* out);

// y = normalize(x) (core/batchnorm.h) with per-channel coefficients; relu fuses max(., 0).
void bn_normalize(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, const BnCoef& k, bool relu);

// out[0:C] = sum dy', out[C:2C] = sum dy' * (x - mean), per channel (dy' = dy masked by the ReLU).
void bn_grad_reduce(DType dt, const void* dy, const void* x, int64_t N, int64_t C, int64_t S, const BnCoef& k,
                    bool relu, double* out);

// dx = ka*dy' + kb*(x - mean) + kc with per-channel ka, kb, kc.
void bn_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S,
                   const BnCoef& k, const BnGradCoef& g, bool relu);

// The whole backward over the data: the sums, then coef, then dx. coef(c0, n, red) writes the
// coefficients of channels [c0, c0 + n) into g's arrays (and whatever else the caller keeps) from
// their sums red = (sum dy'[n], sum dy' * xc[n]) before their dx is computed. Where one channel's
// dy and x fit the caches (bn_channel_schedule) it runs channel by channel: each channel's sums,
// its coefficients (n = 1), its dx while the channel is still cached. Otherwise bn_grad_reduce,
// coef over all C channels, bn_grad_apply. The same bits either way.
using BnGradCoefFn = std::function<void(int64_t c0, int64_t n, const double* red)>;
void bn_grad_passes(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S,
                    const BnCoef& k, const BnGradCoef& g, bool relu, const BnGradCoefFn& coef);

// Whether passes reading `arrays` arrays of dt run channel by channel (bn_grad_passes).
bool bn_channel_schedule(DType dt, int64_t N, int64_t C, int64_t S, int arrays);

// The choices these passes make, for passes built from the same kernels elsewhere (group norm's
// fused passes, groupnorm_api.cpp): whether a pass over `work` elements runs on the thread pool,
// and the kernels' `stream` flag for an output of n elements of dt.
bool bn_on_pool(int64_t work);
int bn_stream_output(DType dt, int64_t n);

}}  // namespace regcore::cpu
