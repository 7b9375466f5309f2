// Stochastic rounding of a float32 value to bfloat16 or float16 with one 32-bit random word r
// (docs/precision.md states the definition; the NumPy backend repeats it op for op). Written
// over the lane types F (float or a SIMD float32 vector) and U (its 32-bit words), so scalar C++,
// every SIMD width and CUDA share it.
//
// The result is the chosen 16-bit neighbour AS A FLOAT32 VALUE: it is exactly representable in
// the format, so the ordinary round-to-nearest store (core/half.h) writes its bits unchanged, and
// values at or beyond the format's overflow point come back as +-2^16 / 2^128 or inf, which that
// store turns into +-inf. NaN comes back unchanged (the store quiets it); +-inf stays +-inf.
//
// bfloat16: x's 16 bits below the bfloat16 mantissa, f = (bits & 0xFFFF) / 2^16, are the position
//   of x between its two neighbours toward zero and away from zero (sign-magnitude). Adding the
//   top 16 bits of r to the float32 bit pattern and clearing the low 16 rounds away from zero
//   exactly when r16 >= 2^16 - (bits & 0xFFFF): probability f, so E[result] = x. A carry moves into
//   the exponent (the next binade, or inf from the largest finite values), and subnormals need no
//   case of their own (bfloat16 shares float32's exponent).
// float16: the same with 13 bits (r >> 19) on float16's grid. Normal range (|x| >= 2^-14): the
//   low 13 bits of the float32 pattern are the position, exactly. Subnormal range: |x| + 2^-14 in
//   float32 puts |x| on a grid of 2^-37 = 2^-13 float16 ulps (rounded to nearest even there: bits
//   of |x| below 2^-37 are not seen), the same add-and-clear picks the neighbour, and subtracting
//   2^-14 again is exact.
#pragma once
#include "half.h"
#include "scalar_ops.h"

REGCORE_CORE_BEGIN

template <class F, class U> REGCORE_HD F sr_not_nan_keep(F x, F y) {
  // y where x is not NaN (|x| <= inf), x itself where it is.
  const F ax = as_float(as_uint(x) & U(0x7FFFFFFFu));
  return vselect(vle(ax, F(as_float(uint32_t(0x7F800000u)))), y, x);
}

// The roundings read only the top 16 bits of r: the *_top forms take them as r16 = r >> 16 (SIMD
// callers shift whole vectors of words at once).
template <class F, class U> REGCORE_HD F sr_bf16_top(F x, U r16) {
  const F y = as_float((as_uint(x) + r16) & U(0xFFFF0000u));
  return sr_not_nan_keep<F, U>(x, y);
}
template <class F, class U> REGCORE_HD F sr_bf16(F x, U r) { return sr_bf16_top<F, U>(x, r >> 16); }

template <class F, class U> REGCORE_HD F sr_f16_top(F x, U r16) {
  const U u = as_uint(x);
  const U r13 = r16 >> 3, keep = U(0xFFFFE000u);
  const F ax = as_float(u & U(0x7FFFFFFFu));
  const F tiny = F(0x1p-14f);
  const F normal = as_float((as_uint(ax) + r13) & keep);
  const F sub = as_float((as_uint(ax + tiny) + r13) & keep) - tiny;
  const F y = as_float(as_uint(vselect(vle(tiny, ax), normal, sub)) | (u & U(0x80000000u)));
  return sr_not_nan_keep<F, U>(x, y);
}
template <class F, class U> REGCORE_HD F sr_f16(F x, U r) { return sr_f16_top<F, U>(x, r >> 16); }

// The rounding for storage type S (bfloat16_t or float16_t; others never reach it).
template <class S> struct sr_format;
template <> struct sr_format<bfloat16_t> {
  template <class F, class U> static REGCORE_HD F round(F x, U r) { return sr_bf16(x, r); }
  template <class F, class U> static REGCORE_HD F round_top(F x, U r16) { return sr_bf16_top(x, r16); }
};
template <> struct sr_format<float16_t> {
  template <class F, class U> static REGCORE_HD F round(F x, U r) { return sr_f16(x, r); }
  template <class F, class U> static REGCORE_HD F round_top(F x, U r16) { return sr_f16_top(x, r16); }
};

REGCORE_CORE_END
