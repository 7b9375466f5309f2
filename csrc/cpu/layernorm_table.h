// The layer-norm kernels one ISA level provides (plain function pointers; see random_table.h).
// Layer norm sees x as an (R, L) array: L = the normalized (trailing) elements of one row, R the
// rows. Its statistics are the batch-norm rows kernel on the (1, R, L) view (batchnorm_api.h);
// what needs kernels of its own is the per-ELEMENT affine (gamma, beta of length L), which the
// per-channel batch-norm kernels cannot express. Each call covers rows [r0, r1).
#pragma once
#include <cstdint>

namespace regcore { namespace cpu {

// Per-row statistics (length R) and the per-element affine (length L) in the data type.
template <class T> struct LnCoef {
  const T* mhi;
  const T* mlo;
  const T* rstd;
  const T* gamma;  // ones when the layer has no affine
  const T* beta;   // zeros when the layer has no affine
};

template <class T> struct LayerNormKernels {
  // y = ln_normalize(x) (core/batchnorm.h) over rows [r0, r1).
  void (*normalize)(const T* x, T* y, int64_t L, int64_t r0, int64_t r1, LnCoef<T> k);
  // One read of dy and x for rows [r0, r1):
  //   row_out[2r] = sum_l g*dy, row_out[2r+1] = sum_l g*dy*xc   (for the row's dx coefficients);
  //   col_dg[l] = sum_r dy*(xc*rstd), col_db[l] = sum_r dy       (this piece's dgamma, dbeta),
  // the column sums in row order, initialized by the kernel.
  void (*grad_reduce)(const T* dy, const T* x, int64_t L, int64_t r0, int64_t r1, LnCoef<T> k,
                      double* row_out, double* col_dg, double* col_db);
  // dx = ln_backward_dx(dy, xc, g, rstd, kb[r], kc[r]).
  void (*grad_apply)(const T* dy, const T* x, T* dx, int64_t L, int64_t r0, int64_t r1, LnCoef<T> k,
                     const T* kb, const T* kc);
};

struct LayerNormTable {
  LayerNormKernels<float> f32;
  LayerNormKernels<double> f64;
};

}}  // namespace regcore::cpu
