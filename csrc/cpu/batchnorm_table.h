// The batch-normalization kernels one ISA level provides (plain function pointers; see
// random_table.h for why). Two layouts, never transposed:
//  * rows: the (N, C, S) view with S > 1 (NCL, NCHW, NCDHW): channel c is N runs of S
//    contiguous elements. Channel-flat index i = n*S + s addresses element (n, c, s).
//  * cols: the (M, C) view (2-D input, or channels-last with M = N*spatial): channels are
//    contiguous, so the kernels run SIMD along C and keep per-channel accumulators in arrays.
// Every kernel covers one fixed piece (a channel-flat range, a flat range or a row range) chosen
// by batchnorm_api.cpp, so results never depend on the thread count. One entry per op: `dt` names
// the element type of x, y, dy, dx.
#pragma once
#include <cstdint>

#include "../core/norm_coef.h"

namespace regcore { namespace cpu {

// Per-channel coefficients of the element formulas: core/norm_coef.h.
using ::regcore::BnCoef;
using ::regcore::BnGradCoef;

// Channel-flat elements per piece of the rows-layout statistics and backward sums
// (batchnorm_api.cpp): 256 KiB of float32 stays in L2 between the two passes of moments_rows, and
// a (32, 64, 56, 56) batch still gives 128 pieces to share out. Layer norm's fused forward cuts
// its rows the same way (the same bits as bn_moments of the (1, R, L) view).
constexpr int64_t kRowsPiece = int64_t(1) << 16;

struct BatchNormTable {
  // out = (mean, M2) of channel c's elements [i0, i1): one pass of float64 sums of the values
  // shifted by the piece's first value (kernels/batchnorm.cpp explains the numerics).
  void (*moments_rows)(DType dt, const void* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                       double out[2]);
  // Per-channel shifted sums over rows [r0, r1) of an (M, C) array: s[c] = sum (x - x[0, c]),
  // q[c] = sum (x - x[0, c])^2 (the shift is row 0 of the whole array, the same for every chunk).
  void (*moments_cols)(DType dt, const void* x, int64_t C, int64_t r0, int64_t r1, double* s, double* q);
  // y over flat elements [j0, j1) of the (N, C, S) view. stream, bit 0: write y with non-temporal
  // stores (large outputs; the same values). The cols kernels (here and grad_apply_cols) read a
  // second flag, bit 1: run a group of rows per coefficient load (passes that stay in the caches;
  // cols_mode in batchnorm_api.cpp sets both; the same values either way).
  void (*normalize_rows)(DType dt, const void* x, void* y, int64_t C, int64_t S, int64_t j0, int64_t j1,
                         const BnCoef& k, int relu, int stream);
  void (*normalize_cols)(DType dt, const void* x, void* y, int64_t C, int64_t r0, int64_t r1,
                         const BnCoef& k, int relu, int stream);
  // out = (sum dy', sum dy' * xc) of channel c's elements [i0, i1).
  void (*grad_reduce_rows)(DType dt, const void* dy, const void* x, int64_t C, int64_t S, int64_t c,
                           int64_t i0, int64_t i1, const BnCoef& k, int relu, double out[2]);
  // Per-channel sums over rows [r0, r1), accumulated into sdy[C], sdyx[C].
  void (*grad_reduce_cols)(DType dt, const void* dy, const void* x, int64_t C, int64_t r0, int64_t r1,
                           const BnCoef& k, int relu, double* sdy, double* sdyx);
  void (*grad_apply_rows)(DType dt, const void* dy, const void* x, void* dx, int64_t C, int64_t S,
                          int64_t j0, int64_t j1, const BnCoef& k, const BnGradCoef& g, int relu,
                          int stream);
  void (*grad_apply_cols)(DType dt, const void* dy, const void* x, void* dx, int64_t C, int64_t r0,
                          int64_t r1, const BnCoef& k, const BnGradCoef& g, int relu, int stream);
  // grad_apply_rows over channel c's channel-flat elements [i0, i1) (as grad_reduce_rows walks
  // them): the channel-by-channel backward (batchnorm_api.cpp).
  void (*grad_apply_chan)(DType dt, const void* dy, const void* x, void* dx, int64_t C, int64_t S, int64_t c,
                          int64_t i0, int64_t i1, const BnCoef& k, const BnGradCoef& g, int relu, int stream);
  // Whether normalize and grad_apply honour `stream` for dt's outputs at this level (1) or ignore
  // it (0: the scalar level; 16-bit outputs other than AVX512_BF16's bfloat16 pairs).
  int (*streams)(DType dt);
  // moments_rows / grad_reduce_rows of channels [0, n) of the (1, n, S) view, whose channels are
  // one run of S values each, one after another (group and instance norm's sets): the same bits
  // a call per channel gives, with the per-channel totals finished a vector of channels at a time.
  // moments: out[2i], out[2i + 1]; sums: sdy[i], sdyx[i] (coefficients of channel i at k's [i]).
  void (*moments_runs)(DType dt, const void* x, int64_t S, int64_t n, double* out);
  void (*grad_reduce_runs)(DType dt, const void* dy, const void* x, int64_t S, int64_t n, const BnCoef& k, int relu,
                           double* sdy, double* sdyx);
};

}}  // namespace regcore::cpu
