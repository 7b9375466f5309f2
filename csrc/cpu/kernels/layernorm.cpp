// Layer-norm kernels with a per-element affine, compiled once per ISA level (layernorm_table.h).
// SIMD lanes run along a row (the normalized elements, contiguous); per-row coefficients are
// broadcast. T is the storage type of x, y, dy, dx; the formulas run in compute_t<T> (float32 for
// the 16-bit formats, loaded with vload / elem_load and rounded once on the store), which is also
// the type of every coefficient array, gamma and beta included. Element math: core/batchnorm.h (ln_normalize, ln_backward_dx, bn_center).
//
// grad_reduce produces two kinds of sums in ONE read of dy and x: per-row sums (lanes, then one
// horizontal sum per row) and per-column sums for dgamma/dbeta accumulated in memory in row
// order, one float64 per column, so the column sums are the same bits at every ISA level.
//
// forward / backward are the one-call passes: each row's statistics and y (its sums, kb, kc and
// dx) from one read of the row, with the next row's arithmetic interleaved in the same loop as
// this row's elementwise pass (float32 and the 16-bit formats), in the same order as the
// separate passes (the same bits). They and every pass that stores y or dx are in
// layernorm_rows.h, compiled twice (see below).
#include "../simd/vec.h"
#include "../../core/batchnorm.h"
#include "../../core/norm_coef.h"
#include "../batchnorm_table.h"
#include "../dispatch.h"
#include "../layernorm_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

#include "norm_accumulate.h"

// A missing gamma / beta (non-affine layer norm) is null: gamma_at / beta_at (core/norm_coef.h)
// substitute 1 and 0 per element; the vector forms below do the same per SIMD row piece.
#if REGCORE_SIMD_W > 1
template <class F> inline typename lanes<F>::V vg_at(const F* g, int64_t l) {
  return g ? vload(g + l) : typename lanes<F>::V(F(1));
}
template <class F> inline typename lanes<F>::V vb_at(const F* b, int64_t l) {
  return b ? vload(b + l) : typename lanes<F>::V(F(0));
}
#endif

// One row's (mean, M2): batch norm's rows statistics of the (1, R, L) view (moments_rows, pieces
// of kRowsPiece values merged in order by bn_moments), so the same bits.
template <class T> Moments row_moments(const T* xr, int64_t L) {
  Moments total{0.0, 0.0, 0.0};
  for (int64_t i0 = 0; i0 < L; i0 += cpu::kRowsPiece) {
    const int64_t i1 = (i0 + cpu::kRowsPiece < L) ? i0 + cpu::kRowsPiece : L;
    const double K = moment_shift(widen(elem_load(xr + i0)));
    Acc s, q;
    span_shifted(s, q, xr + i0, i1 - i0, K);
    Moments m{double(i1 - i0), 0.0, 0.0};
    shifted_moments(m.n, K, s.total(), q.total(), &m.mean, &m.m2);
    total = chan_merge(total, m);
  }
  return total;
}


// The passes that store data (layernorm_rows.h), compiled with the plain pair store and, at the
// AVX-512 level, once more in a GCC target region that enables AVX512_BF16 for vstore2_ne
// (simd/vec_avx512.h): a bfloat16 pair rounded by one instruction instead of eleven, the same
// bits (batchnorm.cpp does the same). Only the bf16ne copies may contain AVX512_BF16
// instructions, and they run only for bfloat16 on a processor that has them (REGCORE_LN_ROWS).
// Measured, bfloat16 64x1024: normalize 8.8 -> 6.5 us, forward 20.8 -> 18.1, backward 36.2 -> 32.8.
namespace plain {
struct PairStore {
  template <class T, class V> static REGCORE_HD void put(T* p, V a, V b) { vstore2(p, a, b); }
};
#include "layernorm_rows.h"
}  // namespace plain
#if defined(REGCORE_HAVE_BF16_NE)
#pragma GCC push_options
#pragma GCC target("avx512bf16")
namespace bf16ne {
struct PairStore {
  static REGCORE_HD void put(bfloat16_t* p, VF32 a, VF32 b) { vstore2_ne<false>(p, a, b); }
};
#include "layernorm_rows.h"
}  // namespace bf16ne
#pragma GCC pop_options
inline bool bf16_ne() { return cpu::avx512_bf16_active(); }
#else
namespace bf16ne = plain;
inline bool bf16_ne() { return false; }
#endif
// fn(args...) of the copy that suits T here (a macro: the copies are overload sets of templates).
#define REGCORE_LN_ROWS(fn, ...)                                                              \
  do {                                                                                       \
    if constexpr (std::is_same<T, bfloat16_t>::value) {                                      \
      if (bf16_ne()) {                                                                       \
        bf16ne::fn(__VA_ARGS__);                                                             \
        break;                                                                               \
      }                                                                                      \
    }                                                                                        \
    plain::fn(__VA_ARGS__);                                                                  \
  } while (0)

// ---------------------------------------------------------------- table entries (dtype -> type)

void normalize_entry(DType dt, const void* x, void* y, int64_t L, int64_t r0, int64_t r1, const LnCoef& k) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    REGCORE_LN_ROWS(normalize, static_cast<const T*>(x), static_cast<T*>(y), L, r0, r1, coef_of<compute_t<T>>(k));
  });
}
void grad_reduce_entry(DType dt, const void* dy, const void* x, int64_t L, int64_t r0, int64_t r1,
                       const LnCoef& k, double* row_out, double* col_dg, double* col_db) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    plain::grad_reduce(static_cast<const T*>(dy), static_cast<const T*>(x), L, r0, r1, coef_of<compute_t<T>>(k), row_out,
                       col_dg, col_db);
  });
}
void grad_apply_entry(DType dt, const void* dy, const void* x, void* dx, int64_t L, int64_t r0, int64_t r1,
                      const LnCoef& k, const void* kb, const void* kc) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    REGCORE_LN_ROWS(grad_apply, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), L, r0, r1,
                    coef_of<compute_t<T>>(k), static_cast<const compute_t<T>*>(kb), static_cast<const compute_t<T>*>(kc));
  });
}

void forward_entry(DType dt, const void* x, void* y, int64_t L, int64_t r0, int64_t r1, const LnCoef& k, double eps,
                   double* mean, double* var) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    REGCORE_LN_ROWS(forward, static_cast<const T*>(x), static_cast<T*>(y), L, r0, r1, coef_of<compute_t<T>>(k), eps, mean,
                    var);
  });
}
void backward_entry(DType dt, const void* dy, const void* x, void* dx, int64_t L, int64_t r0, int64_t r1,
                    const LnCoef& k, const double* rstd, double* col_dg, double* col_db) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    REGCORE_LN_ROWS(backward, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), L, r0, r1,
                    coef_of<compute_t<T>>(k), rstd, col_dg, col_db);
  });
}

#undef REGCORE_LN_ROWS

}  // namespace

const cpu::LayerNormTable& layernorm_table() {
  static const cpu::LayerNormTable table = {normalize_entry, grad_reduce_entry, grad_apply_entry, forward_entry,
                                            backward_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
