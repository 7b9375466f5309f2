// Activations of bias_act_dropout (and their derivatives) as templates over lane types: the same
// formula runs on scalars (scalar ISA, CUDA) and in SIMD lanes, with +, -, *, /, comparisons,
// selects and integer ops only, in a fixed order and without FMA. The numpy backend repeats the
// operations one for one (python/regcore/_backends/numpy_backend/_dropout_act.py), so y and dx are
// bit-identical on every backend. Accuracy against float64/mpmath references is in
// docs/dropout.md and checked by tests/test_dropout_act.py.
//
// exp. x = k ln2 + r, k = round(x / ln2) by the 1.5*2^m "magic add" (its low bits are k), r =
// (x - k*LN2_HI) + (x_lo - k*LN2_LO) with k*LN2_HI exact (LN2_HI has trailing zero bits). e^r - 1
// = r + r^2 (1/2! + r/3! + ...) (Taylor, 7th order for float32, 13th for float64: truncation <
// 0.1 ulp for |r| <= ln2/2). 2^k is built from exponent bits in two exact factors a = 2^(k - s),
// b = 2^s (s = +-64 / +-512 by the sign of x) so that a is always a normal number: the final
// multiply by b rounds once into the subnormal range or overflows to inf exactly as it should.
#pragma once
#include "float_math.h"

REGCORE_CORE_BEGIN

template <class E> struct act_exp_const;
template <> struct act_exp_const<float> {
  static constexpr float INV_LN2 = 0x1.715476p+0f;
  static constexpr float MAGIC = 0x1.8p+23f;           // 1.5 * 2^23: x + MAGIC rounds x to an integer
  static constexpr uint32_t MAGIC_BITS = 0x4B400000u;  // bits of MAGIC; bits(k + MAGIC) = MAGIC_BITS + k
  static constexpr float LO = -110.0f;                 // e^-110 rounds to 0 (min subnormal 2^-149)
  static constexpr float HI = 89.0f;                   // e^89 overflows to inf
  static constexpr float SPLIT = 64.0f, TWO_SPLIT = 0x1p64f, TWO_NSPLIT = 0x1p-64f;
  static constexpr uint32_t BIAS_I = 127u;
};
template <> struct act_exp_const<double> {
  static constexpr double INV_LN2 = 0x1.71547652b82fep+0;
  static constexpr double MAGIC = 0x1.8p+52;
  static constexpr uint64_t MAGIC_BITS = 0x4338000000000000ull;
  static constexpr double LO = -750.0;
  static constexpr double HI = 710.0;
  static constexpr double SPLIT = 512.0, TWO_SPLIT = 0x1p512, TWO_NSPLIT = 0x1p-512;
  static constexpr uint64_t BIAS_I = 1023u;
};

// 1/2! + r/3! + ... + r^(n-2)/n! (n = 7 float32, 13 float64), Horner from the highest term; coefficients are the
// double quotients 1.0/n! rounded to the element type (numpy: the same expressions).
template <class F> REGCORE_HD F exp_tail(F r, float) {
  F q = F(float(1.0 / 5040.0));
  q = F(float(1.0 / 720.0)) + r * q;
  q = F(float(1.0 / 120.0)) + r * q;
  q = F(float(1.0 / 24.0)) + r * q;
  q = F(float(1.0 / 6.0)) + r * q;
  return F(0.5f) + r * q;
}
template <class F> REGCORE_HD F exp_tail(F r, double) {
  F q = F(1.0 / 6227020800.0);
  q = F(1.0 / 479001600.0) + r * q;
  q = F(1.0 / 39916800.0) + r * q;
  q = F(1.0 / 3628800.0) + r * q;
  q = F(1.0 / 362880.0) + r * q;
  q = F(1.0 / 40320.0) + r * q;
  q = F(1.0 / 5040.0) + r * q;
  q = F(1.0 / 720.0) + r * q;
  q = F(1.0 / 120.0) + r * q;
  q = F(1.0 / 24.0) + r * q;
  q = F(1.0 / 6.0) + r * q;
  return F(0.5) + r * q;
}

// e^(x + x_lo) = (1 + p) * a * b with p = e^r - 1, a = 2^(k - s), b = 2^s (see the top). x_lo
// carries the low part of an argument that one float cannot hold exactly (GELU's -z^2/2); it
// must be tiny next to x, and is 0 otherwise. x is clamped to [LO, HI] (NaN passes through).
template <class F>
struct ExpParts { F p, a, b; };

template <class F>
REGCORE_HD ExpParts<F> exp_parts(F x, F x_lo) {
  using E = typename ftraits<F>::elem;
  using U = typename ftraits<F>::uint;
  using C = act_exp_const<E>;
  using FC = fconst<E>;
  x = vmin(vmax(x, F(C::LO)), F(C::HI));
  const F kf = (x * F(C::INV_LN2) + F(C::MAGIC)) - F(C::MAGIC);  // round(x / ln2), exactly
  const F r = (x - kf * F(FC::LN2_HI)) + (x_lo - kf * F(FC::LN2_LO));
  const auto pos = vgt(x, F(E(0)));
  const F s = vselect(pos, F(C::SPLIT), F(-C::SPLIT));
  // bits(k - s + MAGIC) - MAGIC_BITS + BIAS = biased exponent of 2^(k - s), in [1, 2*BIAS].
  using SU = decltype(+C::MAGIC_BITS);
  const U e = as_uint((kf - s) + F(C::MAGIC)) + U(SU(C::BIAS_I - C::MAGIC_BITS));
  ExpParts<F> o;
  o.p = r + (r * r) * exp_tail(r, E());
  o.a = as_float(e << FC::MANT_BITS);
  o.b = vselect(pos, F(C::TWO_SPLIT), F(C::TWO_NSPLIT));
  return o;
}

template <class F> REGCORE_HD F exp_from(const ExpParts<F>& q) {
  using E = typename ftraits<F>::elem;
  return ((F(E(1)) + q.p) * q.a) * q.b;
}
// e^x - 1 without cancellation near 0 (k = 0 gives exactly p).
template <class F> REGCORE_HD F expm1_from(const ExpParts<F>& q) {
  using E = typename ftraits<F>::elem;
  return ((q.a * q.p) * q.b) + ((q.a * q.b) - F(E(1)));
}
template <class F> REGCORE_HD F act_exp(F x) {
  using E = typename ftraits<F>::elem;
  return exp_from(exp_parts(x, F(E(0))));
}

// |x| and sign transplant on the bit patterns (exact).
template <class F> REGCORE_HD F act_abs(F x) {
  using E = typename ftraits<F>::elem;
  using U = typename ftraits<F>::uint;
  using SU = decltype(+fconst<E>::MANT_MASK);
  return as_float(as_uint(x) & U(SU((SU(2) << fconst<E>::SIGN_SHIFT) - 1u)));
}
template <class F> REGCORE_HD F with_sign_of(F mag, F x) {
  using E = typename ftraits<F>::elem;
  using U = typename ftraits<F>::uint;
  using SU = decltype(+fconst<E>::MANT_MASK);
  return as_float(as_uint(mag) | (as_uint(x) & U(SU(SU(2) << fconst<E>::SIGN_SHIFT))));
}

// sigmoid(z) and sigmoid'(z) from u = e^-|z| (never overflows): 1/(1+u) for z >= 0, u/(1+u)
// for z < 0 (no 1 - (1 - tiny) for z << 0); sigmoid' = u / (1+u)^2 for both signs.
template <class F> REGCORE_HD void act_sigmoid(F z, F& f, F& d) {
  using E = typename ftraits<F>::elem;
  const F u = act_exp(act_abs(z) * F(E(-1)));
  const F r = F(E(1)) / (F(E(1)) + u);
  const F ur = u * r;
  f = vselect(vgt(F(E(0)), z), ur, r);
  d = ur * r;
}

// tanh|z| = -m / (2 + m) with m = expm1(-2|z|) (accurate near 0, never overflows), sign of z
// put back; tanh' = 4u / (1+u)^2 with u = e^-2|z| (no 1 - tanh^2 cancellation for large |z|).
template <class F> REGCORE_HD void act_tanh(F z, F& f, F& d) {
  using E = typename ftraits<F>::elem;
  const ExpParts<F> q = exp_parts(act_abs(z) * F(E(-2)), F(E(0)));
  const F m = expm1_from(q);
  const F u = exp_from(q);
  f = with_sign_of((m * F(E(-1))) / (F(E(2)) + m), z);
  const F up = F(E(1)) + u;
  d = (F(E(4)) * u) / (up * up);
}

// ---- Exact GELU: Phi(z) = erfc(-z/sqrt2) / 2 and phi(z) = e^(-z^2/2) / sqrt(2 pi).
// erf / erfc rational approximations of Cephes (ndtr.c, S. L. Moshier): x = |z|/sqrt2,
//   x <= 1:     erf(x)  = x T(x^2) / U(x^2)
//   1 < x <= 8: erfc(x) = e^(-x^2) P(x) / Q(x);   x > 8:  erfc(x) = e^(-x^2) R(x) / S(x)
// (Q, S, U monic). Their own error is ~1e-16; the coefficients are the published decimals as
// float64, rounded once more for float32. e^(-x^2) = e^(-z^2/2) is computed from z itself, split
// z = zh + zl with zh holding half the mantissa (zh^2 exact), so neither the rounding of z/sqrt2
// nor that of z^2 (relative error 2^-24 * z^2 in the result) enters the tail.
template <class F> REGCORE_HD F poly_T(F x) {
  using E = typename ftraits<F>::elem;
  F a = F(E(9.60497373987051638749E0));
  a = a * x + F(E(9.00260197203842689217E1));
  a = a * x + F(E(2.23200534594684319226E3));
  a = a * x + F(E(7.00332514112805075473E3));
  return a * x + F(E(5.55923013010394962768E4));
}
template <class F> REGCORE_HD F poly_U(F x) {
  using E = typename ftraits<F>::elem;
  F a = x + F(E(3.35617141647503099647E1));
  a = a * x + F(E(5.21357949780152679795E2));
  a = a * x + F(E(4.59432382970980127987E3));
  a = a * x + F(E(2.26290000613890934246E4));
  return a * x + F(E(4.92673942608635921086E4));
}
template <class F> REGCORE_HD F poly_P(F x) {
  using E = typename ftraits<F>::elem;
  F a = F(E(2.46196981473530512524E-10));
  a = a * x + F(E(5.64189564831068821977E-1));
  a = a * x + F(E(7.46321056442269912687E0));
  a = a * x + F(E(4.86371970985681366614E1));
  a = a * x + F(E(1.96520832956077098242E2));
  a = a * x + F(E(5.26445194995477358631E2));
  a = a * x + F(E(9.34528527171957607540E2));
  a = a * x + F(E(1.02755188689515710272E3));
  return a * x + F(E(5.57535335369399327526E2));
}
template <class F> REGCORE_HD F poly_Q(F x) {
  using E = typename ftraits<F>::elem;
  F a = x + F(E(1.32281951154744992508E1));
  a = a * x + F(E(8.67072140885989742329E1));
  a = a * x + F(E(3.54937778887819891062E2));
  a = a * x + F(E(9.75708501743205489753E2));
  a = a * x + F(E(1.82390916687909736289E3));
  a = a * x + F(E(2.24633760818710981792E3));
  a = a * x + F(E(1.65666309194161350182E3));
  return a * x + F(E(5.57535340817727675546E2));
}
template <class F> REGCORE_HD F poly_R(F x) {
  using E = typename ftraits<F>::elem;
  F a = F(E(5.64189583547755073984E-1));
  a = a * x + F(E(1.27536670759978104416E0));
  a = a * x + F(E(5.01905042251180477414E0));
  a = a * x + F(E(6.16021097993053585195E0));
  a = a * x + F(E(7.40974269950448939160E0));
  return a * x + F(E(2.97886665372100240670E0));
}
template <class F> REGCORE_HD F poly_S(F x) {
  using E = typename ftraits<F>::elem;
  F a = x + F(E(2.26052863220117276590E0));
  a = a * x + F(E(9.39603524938001434673E0));
  a = a * x + F(E(1.20489539808096656605E1));
  a = a * x + F(E(1.70814450747565897222E1));
  a = a * x + F(E(9.60896809063285878198E0));
  return a * x + F(E(3.36907645100081516050E0));
}

template <class E> struct gelu_const;
// |z| beyond CLAMP: Phi is 0 or 1 after rounding; clamping keeps -z^2/2 inside exp's range
// so that its low part stays meaningful.
template <> struct gelu_const<float> {
  static constexpr float CLAMP = 14.8f;
  static constexpr uint32_t HALF_MASK = 0xFFFFF000u;   // zh: 12 significant bits
};
template <> struct gelu_const<double> {
  static constexpr double CLAMP = 38.7;
  static constexpr uint64_t HALF_MASK = 0xFFFFFFFFF8000000ull;  // zh: 26 significant bits
};

// cdf = Phi(z), pdf = phi(z). Pieces no lane needs are skipped (only which lanes are computed
// changes, never a lane's value).
template <class F> REGCORE_HD void normal_cdf_pdf(F z, F& cdf, F& pdf) {
  using E = typename ftraits<F>::elem;
  using U = typename ftraits<F>::uint;
  using G = gelu_const<E>;
  const F zc = vmin(vmax(z, F(-G::CLAMP)), F(G::CLAMP));
  const F zh = as_float(as_uint(zc) & U(G::HALF_MASK));
  const F hi = (zh * zh) * F(E(-0.5));
  const F lo = ((zc - zh) * (zc + zh)) * F(E(-0.5));
  const F g = exp_from(exp_parts(hi, lo));  // e^(-z^2/2)
  pdf = g * F(E(0.39894228040143267794));   // 1/sqrt(2 pi)
  const F x = act_abs(zc) * F(E(0.70710678118654752440));
  // half = Phi(-|z|) = erfc(x) / 2
  const auto mid = vgt(x, F(E(1)));  // x <= 1: the erf piece
  F half;
  {
    const F xx = x * x;
    half = (F(E(1)) - (x * poly_T(xx)) / poly_U(xx)) * F(E(0.5));
  }
  if (vany(mid)) {
    const auto far = vgt(x, F(E(8)));
    F rat = poly_P(x) / poly_Q(x);
    if (vany(far)) rat = vselect(far, poly_R(x) / poly_S(x), rat);
    half = vselect(mid, (g * rat) * F(E(0.5)), half);
  }
  cdf = vselect(vgt(zc, F(E(0))), F(E(1)) - half, half);
}

REGCORE_CORE_END
