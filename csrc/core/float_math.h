// Elementary functions for the random transforms, written with +, -, *, / and sqrt only, in a
// fixed order and without fused multiply-adds (every CPU TU is built with -ffp-contract=off and
// CUDA with --fmad=false). IEEE 754 rounds each of those operations exactly, so the numpy
// backend, every SIMD width and CUDA produce the same bits: this is how normals stay
// bit-identical across backends instead of "within some ulps" of a vendor libm.
//
// Coefficients are the exact Taylor/atanh rationals rounded once to the target precision; the
// same hex values are in python/regcore/_backends/numpy_backend/_constants.py (a test compares).
#pragma once
#include "scalar_ops.h"

REGCORE_CORE_BEGIN

template <class E> struct fconst;

template <> struct fconst<float> {
  static constexpr int MANT_BITS = 23;
  static constexpr int SIGN_SHIFT = 30;       // (2 << SIGN_SHIFT) is the sign bit
  static constexpr uint32_t MANT_MASK = 0x007FFFFFu;
  static constexpr uint32_t ONE_BITS = 0x3F800000u;
  static constexpr float BIAS = 127.0f;
  static constexpr float SQRT2 = 0x1.6a09e6p+0f;
  static constexpr float LN2_HI = 0x1.62e4p-1f;     // low 12 mantissa bits zero: e*LN2_HI exact
  static constexpr float LN2_LO = 0x1.7f7d1cp-20f;
  static constexpr float HALF_PI = 0x1.921fb6p+0f;
};

template <> struct fconst<double> {
  static constexpr int MANT_BITS = 52;
  static constexpr int SIGN_SHIFT = 62;
  static constexpr uint64_t MANT_MASK = 0x000FFFFFFFFFFFFFull;
  static constexpr uint64_t ONE_BITS = 0x3FF0000000000000ull;
  static constexpr double BIAS = 1023.0;
  static constexpr double SQRT2 = 0x1.6a09e667f3bcdp+0;
  static constexpr double LN2_HI = 0x1.62e42feep-1;  // fdlibm split: low 32 bits zero
  static constexpr double LN2_LO = 0x1.a39ef35793c76p-33;
  static constexpr double HALF_PI = 0x1.921fb54442d18p+0;
};

// atanh series tail R(z) = z/3 + z^2/5 + ... for ln(m) = 2s + 2s*R(s^2), |s| <= 0.1716.
template <class F> REGCORE_HD F atanh_tail_f(F z, float) {
  return z * (F(0x1.555556p-2f) + z * (F(0x1.99999ap-3f) + z * (F(0x1.24924ap-3f) + z * F(0x1.c71c72p-4f))));
}
template <class F> REGCORE_HD F atanh_tail_f(F z, double) {
  F p = F(0x1.8618618618618p-5);
  p = F(0x1.af286bca1af28p-5) + z * p;
  p = F(0x1.e1e1e1e1e1e1ep-5) + z * p;
  p = F(0x1.1111111111111p-4) + z * p;
  p = F(0x1.3b13b13b13b14p-4) + z * p;
  p = F(0x1.745d1745d1746p-4) + z * p;
  p = F(0x1.c71c71c71c71cp-4) + z * p;
  p = F(0x1.2492492492492p-3) + z * p;
  p = F(0x1.999999999999ap-3) + z * p;
  p = F(0x1.5555555555555p-2) + z * p;
  return z * p;
}

// Natural log of u in [2^-60, 1] (positive normal numbers; no special cases needed by callers).
// u = m * 2^e with m in [sqrt(2)/2, sqrt(2)]; ln m = 2 atanh((m-1)/(m+1)).
template <class F>
REGCORE_HD F log_unit(F u) {
  using E = typename ftraits<F>::elem;
  using U = typename ftraits<F>::uint;
  using C = fconst<E>;
  U b = as_uint(u);
  F e = to_fp(b >> C::MANT_BITS) - F(C::BIAS);
  F m = as_float((b & U(C::MANT_MASK)) | U(C::ONE_BITS));
  auto big = vgt(m, F(C::SQRT2));
  m = vselect(big, m * F(E(0.5)), m);
  e = vselect(big, e + F(E(1)), e);
  F s = (m - F(E(1))) / (m + F(E(1)));
  F t = s + s;
  F lnm = t + t * atanh_tail_f(s * s, E());
  return e * F(C::LN2_HI) + (lnm + e * F(C::LN2_LO));
}

// sin and cos of a in [0, pi/2) by Taylor polynomials (error < 1 ulp at pi/2).
template <class F> REGCORE_HD void sincos_quarter(F a, F& s, F& c, float) {
  F z = a * a;
  F ps = F(-0x1.ae6456p-26f) + z * F(0x1.612462p-33f);
  ps = F(0x1.71de3ap-19f) + z * ps;
  ps = F(-0x1.a01a02p-13f) + z * ps;
  ps = F(0x1.111112p-7f) + z * ps;
  ps = F(-0x1.555556p-3f) + z * ps;
  s = a + a * (z * ps);
  F pc = F(0x1.1eed8ep-29f) + z * F(-0x1.93974ap-37f);
  pc = F(-0x1.27e4fcp-22f) + z * pc;
  pc = F(0x1.a01a02p-16f) + z * pc;
  pc = F(-0x1.6c16c2p-10f) + z * pc;
  pc = F(0x1.555556p-5f) + z * pc;
  pc = F(-0x1p-1f) + z * pc;
  c = F(1.0f) + z * pc;
}
template <class F> REGCORE_HD void sincos_quarter(F a, F& s, F& c, double) {
  F z = a * a;
  F ps = F(-0x1.2f49b46814157p-57) + z * F(0x1.71b8ef6dcf572p-66);
  ps = F(0x1.952c77030ad4ap-49) + z * ps;
  ps = F(-0x1.ae7f3e733b81fp-41) + z * ps;
  ps = F(0x1.6124613a86d09p-33) + z * ps;
  ps = F(-0x1.ae64567f544e4p-26) + z * ps;
  ps = F(0x1.71de3a556c734p-19) + z * ps;
  ps = F(-0x1.a01a01a01a01ap-13) + z * ps;
  ps = F(0x1.1111111111111p-7) + z * ps;
  ps = F(-0x1.5555555555555p-3) + z * ps;
  s = a + a * (z * ps);
  F pc = F(0x1.e542ba4020225p-62) + z * F(-0x1.0ce396db7f853p-70);
  pc = F(-0x1.6827863b97d97p-53) + z * pc;
  pc = F(0x1.ae7f3e733b81fp-45) + z * pc;
  pc = F(-0x1.93974a8c07c9dp-37) + z * pc;
  pc = F(0x1.1eed8eff8d898p-29) + z * pc;
  pc = F(-0x1.27e4fb7789f5cp-22) + z * pc;
  pc = F(0x1.a01a01a01a01ap-16) + z * pc;
  pc = F(-0x1.6c16c16c16c17p-10) + z * pc;
  pc = F(0x1.5555555555555p-5) + z * pc;
  pc = F(-0x1p-1) + z * pc;
  c = F(1.0) + z * pc;
}

// (cos, sin) of q*pi/2 + a from (cos a, sin a): a swap and sign flips on the bit patterns,
// exact. q holds 0..3 in the bit type of F.
template <class F, class U>
REGCORE_HD void quadrant_rotate(F c, F s, U q, F& cos_t, F& sin_t) {
  using C = fconst<typename ftraits<F>::elem>;
  U cb = as_uint(c), sb = as_uint(s);
  U swap = U(0) - (q & U(1));
  U diff = (cb ^ sb) & swap;
  cos_t = as_float((cb ^ diff) ^ (((q + U(1)) & U(2)) << C::SIGN_SHIFT));
  sin_t = as_float((sb ^ diff) ^ ((q & U(2)) << C::SIGN_SHIFT));
}

// ---- init family: the standard normal quantile, for inverse-CDF sampling (trunc_normal).

// Phi^-1(p), float64 lanes only, for p in [2^-1000, 1 - 2^-53] (the caller clamps).
// Wichura, "Algorithm AS 241: The percentage points of the normal distribution", Applied
// Statistics 37(3), 477-484 (1988), PPND16: relative error about 1e-16. Three rational
// approximations: |q| <= 0.425 around the median in r = 0.180625 - q^2, and two tail pieces in
// r = sqrt(-ln(min(p, 1-p))) split at r = 5. All three are evaluated and the lane's piece is
// picked with exact selects, so scalar, SIMD and CUDA give the same bits; the published decimal
// coefficients appear here rounded once to float64 (hex), Horner order as in the paper.
template <class F>
REGCORE_HD F ndtri_as241(F p) {
  const F q = p - F(0.5);
  const F qq = q * q;
  // Central piece: q * A(r) / B(r).
  F r = F(0x1.71eb851eb851fp-3) - qq;
  F a = F(0x1.39a296f7d925ep+11);
  a = a * r + F(0x1.052d26b2e45e4p+15);
  a = a * r + F(0x1.06c1c55b78f2p+16);
  a = a * r + F(0x1.66c3e869b752ap+15);
  a = a * r + F(0x1.ad1d8cd4ee71dp+13);
  a = a * r + F(0x1.ece5d2213c0ccp+10);
  a = a * r + F(0x1.0a4888b1a436ep+7);
  a = a * r + F(0x1.b18d91e9eef75p+1);
  F b = F(0x1.46a7eca984b69p+12);
  b = b * r + F(0x1.c0e457cb1ae76p+14);
  b = b * r + F(0x1.3317caa64f4bep+15);
  b = b * r + F(0x1.4b772d5d65266p+14);
  b = b * r + F(0x1.512322e75c89fp+12);
  b = b * r + F(0x1.5797efdc8b3f7p+9);
  b = b * r + F(0x1.5281b386e1ab5p+5);
  b = b * r + F(1.0);
  const F central = (q * a) / b;
  // The tail pieces cost a log, a sqrt and two divisions: skip them when no lane needs them.
  // (Only which lanes are computed changes, never a lane's value: the bits stay the same.)
  const auto in_tail = vgt(qq, F(0x1.71eb851eb851fp-3));
  if (!vany(in_tail)) return central;
  // Tails: s = sqrt(-ln t), t = min(p, 1 - p) >= 2^-1000 (a positive normal number: log_unit's domain).
  const F t = vmin(p, F(1.0) - p);
  const F s = vsqrt(log_unit(t) * F(-1.0));
  r = s - F(0x1.999999999999ap+0);  // 1.6
  F c = F(0x1.9615ac0b7ace9p-11);
  c = c * r + F(0x1.744eb6c45ec67p-6);
  c = c * r + F(0x1.ef2abb9b85c37p-3);
  c = c * r + F(0x1.453cc085375b2p+0);
  c = c * r + F(0x1.d2ecb1a3d02c4p+1);
  c = c * r + F(0x1.713f71462256ap+2);
  c = c * r + F(0x1.2857748cab19bp+2);
  c = c * r + F(0x1.6c665fde9526ap+0);
  F d = F(0x1.20d3f686439e4p-30);
  d = d * r + F(0x1.1f18cbfdf2728p-11);
  d = d * r + F(0x1.f207a7eab17bfp-7);
  d = d * r + F(0x1.2f5123394f04p-3);
  d = d * r + F(0x1.61292f23385c9p-1);
  d = d * r + F(0x1.ad278e6526633p+0);
  d = d * r + F(0x1.06cefbb46a449p+1);
  d = d * r + F(1.0);
  const F mid = c / d;
  const auto in_far = vgt(s, F(5.0));
  F tail = mid;
  if (vany(in_far)) {
    r = s - F(5.0);
    F e = F(0x1.afb74d693bf93p-23);
    e = e * r + F(0x1.c6ec6cc59e02ap-16);
    e = e * r + F(0x1.45c1908425345p-10);
    e = e * r + F(0x1.b2b41193b4ee7p-6);
    e = e * r + F(0x1.2fad9315255cfp-2);
    e = e * r + F(0x1.c8ea6461fa445p+0);
    e = e * r + F(0x1.5daea6e875003p+2);
    e = e * r + F(0x1.aa1b1c13ee526p+2);
    F f = F(0x1.269bff1f8c19p-49);
    f = f * r + F(0x1.31446f740b9ep-23);
    f = f * r + F(0x1.35c2c496374bfp-16);
    f = f * r + F(0x1.9c8bc979dc5d7p-11);
    f = f * r + F(0x1.e76f93215462ap-7);
    f = f * r + F(0x1.186eb183443fbp-3);
    f = f * r + F(0x1.331d34fc7d77fp-1);
    f = f * r + F(1.0);
    tail = vselect(in_far, e / f, mid);
  }
  tail = vselect(vgt(F(0.0), q), tail * F(-1.0), tail);
  return vselect(in_tail, tail, central);
}

REGCORE_CORE_END
