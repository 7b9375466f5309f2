// Whole-array layer-norm passes with a per-element affine on the CPU, over the (R, L) view.
// The statistics are bn_moments on the (1, R, L) view (batchnorm_api.h). Rows are cut in pieces
// whose boundaries depend only on (R, L); column sums are combined in piece order, so results
// are identical for any thread count.
#pragma once
#include <cstdint>

#include "layernorm_table.h"

namespace regcore { namespace cpu {

template <class T> void ln_normalize(const T* x, T* y, int64_t R, int64_t L, LnCoef<T> k);

// row_out[2R] = per row (sum g*dy, sum g*dy*xc); col_out[2L] = (dgamma[L], dbeta[L]).
template <class T>
void ln_grad_reduce(const T* dy, const T* x, int64_t R, int64_t L, LnCoef<T> k, double* row_out,
                    double* col_out);

template <class T>
void ln_grad_apply(const T* dy, const T* x, T* dx, int64_t R, int64_t L, LnCoef<T> k, const T* kb,
                   const T* kc);

}}  // namespace regcore::cpu
