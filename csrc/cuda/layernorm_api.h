// Layer-norm passes on a CUDA device over the (R, L) view, with the same coefficient struct as the
// CPU (csrc/cpu/layernorm_table.h); every pointer is a device pointer, outputs included. The
// statistics are bn_moments on the (1, R, L) view (batchnorm_api.h). Reductions are deterministic
// (norm_reduce.cuh): pieces fixed by the shape, fixed merge order, no float atomics.
#pragma once
#include <cstdint>

#include "../cpu/layernorm_table.h"

namespace regcore { namespace cuda {

using cpu::LnCoef;

template <class T> void ln_normalize(const T* x, T* y, int64_t R, int64_t L, LnCoef<T> k, uintptr_t stream);
// row_out (R, 2): per row sum g*dy, sum g*dy*xc; col_out (2, L): per column sum dy*(xc*rstd),
// sum dy (float64, device).
template <class T>
void ln_grad_reduce(const T* dy, const T* x, int64_t R, int64_t L, LnCoef<T> k, double* row_out, double* col_out,
                    uintptr_t stream);
template <class T>
void ln_grad_apply(const T* dy, const T* x, T* dx, int64_t R, int64_t L, LnCoef<T> k, const T* kb, const T* kc,
                   uintptr_t stream);

}}  // namespace regcore::cuda
