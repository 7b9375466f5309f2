// Group norm's forward and backward passes in one call each (instance norm's too: G = C), for
// callers that pay per call (regcore.torch on the CPU). They are python/regcore/norms.py's
// _grouped_forward and _grouped_backward_on composed of the existing passes and per-channel
// arithmetic: bn_moments on the (1, N*G, (C/G)*S) view, bn_coefficients on the per-(sample,
// channel) spread of the statistics and parameters (the operations _grouped_saved runs, in its
// order), bn_normalize / bn_grad_reduce / bn_grad_apply on the (1, N*C, S) view and
// gn_grad_coefficients between them. Where a group fits one statistics piece they run as the
// fused passes of groupnorm_api.h instead (the same kernels and arithmetic a block of groups at
// a time, no per-call N*C arrays). The same bits; outputs are the caller's.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// x, y (dt) of shape (N, C, S...) with S values per channel; gamma / beta: C values of pdt or
// null. mean[N*G], var[N*G] (biased): float64 outputs, the statistics of each (sample, group).
void gn_forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, DType pdt,
                const void* gamma, const void* beta, double eps, double* mean, double* var);

// Instance norm in inference with running statistics (norms.py's _instance_norm, training=False):
// mean[C], var[C] = running_mean / running_var (C values of rdt) widened to float64, and y
// normalized with them per channel (the coefficients gn_backward rebuilds for batch_stats false).
void in_forward_running(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, DType pdt,
                        const void* gamma, const void* beta, DType rdt, const void* running_mean,
                        const void* running_var, double eps, double* mean, double* var);

// dx (dt) and, when non-null, dgamma / dbeta (C values of pdt, rounded once from float64) of a
// forward that normalized x with (mean, var): per (sample, group), N*G values each, when
// batch_stats (the statistics of x, which the gradient flows through); otherwise per channel,
// C values (instance norm's running statistics in inference: constants).
void gn_backward(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t G, int64_t S,
                 DType pdt, const void* gamma, const void* beta, const double* mean, const double* var, double eps,
                 bool batch_stats, void* dgamma, void* dbeta);

}}  // namespace regcore::cpu
