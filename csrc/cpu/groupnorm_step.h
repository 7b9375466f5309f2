// Group norm's forward with the statistics of x in one call (instance norm's too: G = C), for
// callers that pay per call (regcore.torch on the CPU). It is python/regcore/norms.py's
// _grouped_forward composed of the existing passes and per-channel arithmetic: bn_moments on the
// (1, N*G, (C/G)*S) view, bn_coefficients on the per-(sample, channel) spread of the statistics
// and parameters (the operations _grouped_saved runs, in its order), bn_normalize on the
// (1, N*C, S) view. The same bits; outputs are the caller's.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// x, y (dt) of shape (N, C, S...) with S values per channel; gamma / beta: C values of pdt or
// null. mean[N*G], var[N*G] (biased): float64 outputs, the statistics of each (sample, group).
void gn_forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, DType pdt,
                const void* gamma, const void* beta, double eps, double* mean, double* var);

}}  // namespace regcore::cpu
