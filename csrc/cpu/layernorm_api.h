// Whole-array layer-norm passes with a per-element affine on the CPU, over the (R, L) view.
// The statistics are bn_moments on the (1, R, L) view (batchnorm_api.h), which the fused forward
// reproduces row by row. Rows are cut in pieces
// whose boundaries depend only on (R, L); column sums are combined in piece order, so results
// are identical for any thread count.
#pragma once
#include <cstdint>

#include "layernorm_table.h"

namespace regcore { namespace cpu {

// dt (core/dtype.h) is the element type of x, y, dy, dx; k's arrays, kb and kc are of
// compute_dtype(dt).
void ln_normalize(DType dt, const void* x, void* y, int64_t R, int64_t L, const LnCoef& k);

// row_out[2R] = per row (sum g*dy, sum g*dy*xc); col_out[2L] = (dgamma[L], dbeta[L]).
void ln_grad_reduce(DType dt, const void* dy, const void* x, int64_t R, int64_t L, const LnCoef& k, double* row_out,
                    double* col_out);

void ln_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, const LnCoef& k,
                   const void* kb, const void* kc);

// The fused passes (layernorm_table.h forward / backward), the same bits as the passes above
// composed (bn_moments + ln_normalize; ln_grad_reduce + ln_grad_apply with the per-row kb, kc):
// mean[R], var[R]; col_out[2L] = (dgamma[L], dbeta[L]) float64 sums. rstd[R]: float64.
void ln_forward_rows(DType dt, const void* x, void* y, int64_t R, int64_t L, const LnCoef& k, double eps, double* mean,
                     double* var);
void ln_backward_rows(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, const LnCoef& k,
                      const double* rstd, double* col_out);

}}  // namespace regcore::cpu
