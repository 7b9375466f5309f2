// A whole batch-norm forward or backward pass in one call, for callers that pay per call
// (regcore.torch on the CPU: every native call from Python, with its glue, costs more than a
// 64K-element kernel). Each function is batchnorm_api.h's passes and batchnorm_channels.h's
// per-channel arithmetic composed in the order python/regcore/batchnorm.py runs them, on the
// same arrays, so the results are the same bits; nothing here computes anything itself.
// Outputs are the caller's (preallocated); O(C) scratch is this call's own.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// gamma / beta are of pdt and may be null (1 and 0); y is of dt; mean[C], var[C] (biased) are
// float64 outputs: the statistics y was normalized with (what a backward takes).
// batch_stats: the statistics of x (bn_moments), and when running_mean / running_var (of rdt;
// both or neither) are given they are updated in place with `factor` (running_var with the
// unbiased variance), after the normalize. Throws std::invalid_argument when a channel has
// fewer than two values (C > 0 and N*S <= 1), before anything is written.
// !batch_stats: the running statistics (required) as float64 are the statistics; nothing is
// updated.
void bn_forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, DType pdt, const void* gamma,
                const void* beta, double eps, bool relu, bool batch_stats, DType rdt, void* running_mean,
                void* running_var, double factor, double* mean, double* var);

// dx (dt) and, when non-null, dgamma / dbeta (pdt, rounded once from the float64 sums) of a
// forward that normalized x with (mean, var) over `count` values per channel.
void bn_backward(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S, DType pdt,
                 const void* gamma, const void* beta, const double* mean, const double* var, double eps, double count,
                 bool batch_stats, bool relu, void* dgamma, void* dbeta);

}}  // namespace regcore::cpu
