// Whole-array batch-normalization passes on a CUDA device, over the same (N, C, S) view and with
// the same coefficient structs as the CPU (core/norm_coef.h); every pointer is a device
// pointer, `out` arrays included. Results do not depend on the GPU model: pieces are fixed by
// the shape, reductions run in a fixed order and no float atomics are used.
#pragma once
#include <cstdint>

#include "../core/norm_coef.h"

namespace regcore { namespace cuda {

// dt (core/dtype.h) is the element type of x, y, dy, dx; the coefficient arrays are of
// compute_dtype(dt), on the device.

// out[0:C] = count, out[C:2C] = mean, out[2C:3C] = M2 (float64, device).
void bn_moments(DType dt, const void* x, int64_t N, int64_t C, int64_t S, double* out, uintptr_t stream);
void bn_normalize(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, const BnCoef& k, bool relu,
                  uintptr_t stream);
// out[0:C] = sum dy', out[C:2C] = sum dy' * xc (float64, device).
void bn_grad_reduce(DType dt, const void* dy, const void* x, int64_t N, int64_t C, int64_t S, const BnCoef& k,
                    bool relu, double* out, uintptr_t stream);
void bn_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S,
                   const BnCoef& k, const BnGradCoef& g, bool relu, uintptr_t stream);

}}  // namespace regcore::cuda
