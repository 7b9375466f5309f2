// Whole-array batch-normalization passes on a CUDA device, over the same (N, C, S) view and with
// the same coefficient structs as the CPU (csrc/cpu/batchnorm_api.h); every pointer is a device
// pointer, `out` arrays included. Results do not depend on the GPU model: pieces are fixed by
// the shape, reductions run in a fixed order and no float atomics are used.
#pragma once
#include <cstdint>

#include "../cpu/batchnorm_table.h"

namespace regcore { namespace cuda {

using cpu::BnCoef;
using cpu::BnGradCoef;

// out[0:C] = count, out[C:2C] = mean, out[2C:3C] = M2 (float64, device).
template <class T> void bn_moments(const T* x, int64_t N, int64_t C, int64_t S, double* out, uintptr_t stream);
template <class T>
void bn_normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu, uintptr_t stream);
// out[0:C] = sum dy', out[C:2C] = sum dy' * xc (float64, device).
template <class T>
void bn_grad_reduce(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu,
                    double* out, uintptr_t stream);
template <class T>
void bn_grad_apply(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, BnCoef<T> k,
                   BnGradCoef<T> g, bool relu, uintptr_t stream);

}}  // namespace regcore::cuda
