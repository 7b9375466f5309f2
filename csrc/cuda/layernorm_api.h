// Layer-norm passes on a CUDA device over the (R, L) view, with the same coefficient struct as the
// CPU (core/norm_coef.h); every pointer is a device pointer, outputs included. The
// statistics are bn_moments on the (1, R, L) view (batchnorm_api.h). Reductions are deterministic
// (norm_reduce.cuh): pieces fixed by the shape, fixed merge order, no float atomics.
#pragma once
#include <cstdint>

#include "../core/norm_coef.h"

namespace regcore { namespace cuda {

// dt (core/dtype.h) is the element type of x, y, dy, dx; k's arrays, kb and kc are of
// compute_dtype(dt), on the device.
void ln_normalize(DType dt, const void* x, void* y, int64_t R, int64_t L, const LnCoef& k, uintptr_t stream);
// row_out (R, 2): per row sum g*dy, sum g*dy*xc; col_out (2, L): per column sum dy*(xc*rstd),
// sum dy (float64, device).
void ln_grad_reduce(DType dt, const void* dy, const void* x, int64_t R, int64_t L, const LnCoef& k, double* row_out,
                    double* col_out, uintptr_t stream);
void ln_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, const LnCoef& k,
                   const void* kb, const void* kc, uintptr_t stream);

}}  // namespace regcore::cuda
