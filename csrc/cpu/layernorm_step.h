// A whole layer-norm forward or backward pass in one call, for callers that pay per call
// (regcore.torch on the CPU). Each function is the passes of batchnorm_api.h (the statistics:
// bn_moments on the (1, R, L) view) and layernorm_api.h with the per-row arithmetic of
// python/regcore/norms.py (_layer_norm, _layer_saved, _layer_backward) in the same operations and
// order, so the results are the same bits. Outputs are the caller's (preallocated).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// Over the (R, L) view: y (dt), mean[R] and biased var[R] (float64). gamma / beta: L values of
// pdt each, or null (no affine).
void ln_forward(DType dt, const void* x, void* y, int64_t R, int64_t L, DType pdt, const void* gamma,
                const void* beta, double eps, double* mean, double* var);

// dx (dt) and, when non-null, dgamma / dbeta (L values of pdt, rounded once from float64) of a
// forward that normalized with (mean, var).
void ln_backward(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, DType pdt,
                 const void* gamma, const void* beta, const double* mean, const double* var, double eps,
                 void* dgamma, void* dbeta);

}}  // namespace regcore::cpu
