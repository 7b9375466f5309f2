// The layer-norm kernels one ISA level provides (plain function pointers; see random_table.h).
// Layer norm sees x as an (R, L) array: L = the normalized (trailing) elements of one row, R the
// rows. Its statistics are the batch-norm rows kernel on the (1, R, L) view (batchnorm_api.h);
// what needs kernels of its own is the per-ELEMENT affine (gamma, beta of length L), which the
// per-channel batch-norm kernels cannot express. Each call covers rows [r0, r1); `dt` names the
// element type of x, y, dy, dx.
#pragma once
#include <cstdint>

#include "../core/norm_coef.h"

namespace regcore { namespace cpu {

// Per-row statistics and the per-element affine: core/norm_coef.h.
using ::regcore::LnCoef;

struct LayerNormTable {
  // y = ln_normalize(x) (core/batchnorm.h) over rows [r0, r1).
  void (*normalize)(DType dt, const void* x, void* y, int64_t L, int64_t r0, int64_t r1, const LnCoef& k);
  // One read of dy and x for rows [r0, r1):
  //   row_out[2r] = sum_l g*dy, row_out[2r+1] = sum_l g*dy*xc   (for the row's dx coefficients);
  //   col_dg[l] = sum_r dy*(xc*rstd), col_db[l] = sum_r dy       (this piece's dgamma, dbeta),
  // the column sums in row order, initialized by the kernel.
  void (*grad_reduce)(DType dt, const void* dy, const void* x, int64_t L, int64_t r0, int64_t r1,
                      const LnCoef& k, double* row_out, double* col_dg, double* col_db);
  // dx = ln_backward_dx(dy, xc, g, rstd, kb[r], kc[r]) (kb, kc in compute_dtype(dt)).
  void (*grad_apply)(DType dt, const void* dy, const void* x, void* dx, int64_t L, int64_t r0, int64_t r1,
                     const LnCoef& k, const void* kb, const void* kc);
  // The fused forward of rows [r0, r1): each row's (mean, M2) as the batch-norm rows statistics
  // of the (1, R, L) view (the same bits), mean[r] and var[r] = M2 / L, the row's coefficients
  // (core/batchnorm.h ln_row_coef), then y from the row while it is in cache. Uses k.gamma and
  // k.beta only.
  void (*forward)(DType dt, const void* x, void* y, int64_t L, int64_t r0, int64_t r1, const LnCoef& k, double eps,
                  double* mean, double* var);
  // The fused backward of rows [r0, r1): grad_reduce's sums of each row (column sums into col_dg,
  // col_db as grad_reduce), its kb, kc (ln_grad_row_coef, from the float64 rstd[r]), then dx from
  // the row while it is in cache.
  void (*backward)(DType dt, const void* dy, const void* x, void* dx, int64_t L, int64_t r0, int64_t r1,
                   const LnCoef& k, const double* rstd, double* col_dg, double* col_db);
};

}}  // namespace regcore::cpu
