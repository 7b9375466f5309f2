// Layer-norm kernels with a per-element affine, compiled once per ISA level (layernorm_table.h).
// SIMD lanes run along a row (the normalized elements, contiguous); per-row coefficients are
// broadcast. T is the storage type of x, y, dy, dx; the formulas run in compute_t<T> (float32 for
// the 16-bit formats, loaded with vload / elem_load and rounded once on the store), which is also
// the type of every coefficient array, gamma and beta included. Element math: core/batchnorm.h (ln_normalize, ln_backward_dx, bn_center).
//
// grad_reduce produces two kinds of sums in ONE read of dy and x: per-row sums (lanes, then one
// horizontal sum per row) and per-column sums for dgamma/dbeta accumulated in memory in row
// order, one float64 per column, so the column sums are the same bits at every ISA level.
#include "../simd/vec.h"
#include "../../core/batchnorm.h"
#include "../../core/norm_coef.h"
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

template <class T>
void normalize(const T* x, T* y, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * L;
    T* yr = y + r * L;
    const compute_t<T> mhi = k.mhi[r], mlo = k.mlo[r], rs = k.rstd[r];
    int64_t l = 0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t W = lanes<T>::n;
    const V vmhi(mhi), vmlo(mlo), vrs(rs);
    const auto at = [&](int64_t j) {
      return ln_normalize(vload_arith(xr + j), vmhi, vmlo, vrs, vg_at(k.gamma, j), vb_at(k.beta, j));
    };
    for (; l + kPair<T> <= L; l += 2 * W) vstore2(yr + l, at(l), at(l + W));
    for (; l + W <= L; l += W) vstore(yr + l, at(l));
#endif
    for (; l < L; ++l)
      elem_store(yr + l, ln_normalize(elem_load(xr + l), mhi, mlo, rs, gamma_at(k.gamma, l), beta_at(k.beta, l)));
  }
}

template <class T>
void grad_reduce(const T* dy, const T* x, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k,
                 double* row_out, double* col_dg, double* col_db) {
  for (int64_t l = 0; l < L; ++l) col_dg[l] = col_db[l] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * L;
    const T* dr = dy + r * L;
    const compute_t<T> mhi = k.mhi[r], mlo = k.mlo[r], rs = k.rstd[r];
    Acc A, B;
    int64_t l = 0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t W = lanes<T>::n;
    const V vmhi(mhi), vmlo(mlo), vrs(rs);
    for (; l + W <= L; l += W) {
      const V xc = bn_center(vload_arith(xr + l), vmhi, vmlo);
      const V d = vload_arith(dr + l);
      const V gd = vg_at(k.gamma, l) * d;
      acc_add(A.a0, A.a1, gd);
      acc_mul(B.a0, B.a1, gd, xc);
      mem_mul(col_dg + l, d, xc * vrs);
      mem_add(col_db + l, d);
    }
#endif
    for (; l < L; ++l) {
      using F = compute_t<T>;
      const F xc = bn_center(elem_load(xr + l), mhi, mlo);
      const F d = elem_load(dr + l);
      const F gd = gamma_at(k.gamma, l) * d;
      A.s += widen(gd);
      B.s += widen(gd) * widen(xc);
      col_dg[l] += widen(d) * widen(F(xc * rs));
      col_db[l] += widen(d);
    }
    row_out[2 * r] = A.total();
    row_out[2 * r + 1] = B.total();
  }
}

template <class T>
void grad_apply(const T* dy, const T* x, T* dx, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k,
                const compute_t<T>* kb, const compute_t<T>* kc) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * L;
    const T* dr = dy + r * L;
    T* o = dx + r * L;
    const compute_t<T> mhi = k.mhi[r], mlo = k.mlo[r], rs = k.rstd[r], b = kb[r], c = kc[r];
    int64_t l = 0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t W = lanes<T>::n;
    const V vmhi(mhi), vmlo(mlo), vrs(rs), vb(b), vc(c);
    const auto at = [&](int64_t j) {
      return ln_backward_dx(vload_arith(dr + j), bn_center(vload_arith(xr + j), vmhi, vmlo), vg_at(k.gamma, j), vrs, vb, vc);
    };
    for (; l + kPair<T> <= L; l += 2 * W) vstore2(o + l, at(l), at(l + W));
    for (; l + W <= L; l += W) vstore(o + l, at(l));
#endif
    for (; l < L; ++l)
      elem_store(o + l, ln_backward_dx(elem_load(dr + l), bn_center(elem_load(xr + l), mhi, mlo), gamma_at(k.gamma, l),
                                       rs, b, c));
  }
}

// ---------------------------------------------------------------- table entries (dtype -> type)

void normalize_entry(DType dt, const void* x, void* y, int64_t L, int64_t r0, int64_t r1, const LnCoef& k) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    normalize(static_cast<const T*>(x), static_cast<T*>(y), L, r0, r1, coef_of<compute_t<T>>(k));
  });
}
void grad_reduce_entry(DType dt, const void* dy, const void* x, int64_t L, int64_t r0, int64_t r1,
                       const LnCoef& k, double* row_out, double* col_dg, double* col_db) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_reduce(static_cast<const T*>(dy), static_cast<const T*>(x), L, r0, r1, coef_of<compute_t<T>>(k), row_out, col_dg,
                col_db);
  });
}
void grad_apply_entry(DType dt, const void* dy, const void* x, void* dx, int64_t L, int64_t r0, int64_t r1,
                      const LnCoef& k, const void* kb, const void* kc) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_apply(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), L, r0, r1, coef_of<compute_t<T>>(k),
               static_cast<const compute_t<T>*>(kb), static_cast<const compute_t<T>*>(kc));
  });
}

}  // namespace

const cpu::LayerNormTable& layernorm_table() {
  static const cpu::LayerNormTable table = {normalize_entry, grad_reduce_entry, grad_apply_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
