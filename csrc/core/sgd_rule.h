// The penalized SGD update of one element (or one SIMD vector of elements), written once as a
// template over the lane type F (float, double, a SIMD vector, or a CUDA register). Scalar C++,
// AVX2, AVX-512, CUDA and (op for op) the NumPy backend evaluate exactly this sequence of IEEE
// operations, with no fused multiply-add (-ffp-contract=off / --fmad=false), so they produce the
// same bits. docs/sgd.md gives the math and the order of operations.
#pragma once
#include "scalar_ops.h"
#include "sgd_params.h"

REGCORE_CORE_BEGIN

template <class E> struct sgd_bits;
template <> struct sgd_bits<float> { static constexpr uint32_t SIGN = 0x80000000u; };
template <> struct sgd_bits<double> { static constexpr uint64_t SIGN = 0x8000000000000000ull; };

// Sign-bit manipulations are exact and treat NaN and signed zeros the way IEEE negation does.
template <class F> REGCORE_HD F sgd_neg(F x) {
  using U = typename ftraits<F>::uint;
  return as_float(as_uint(x) ^ U(sgd_bits<typename ftraits<F>::elem>::SIGN));
}
template <class F> REGCORE_HD F sgd_abs(F x) {
  using U = typename ftraits<F>::uint;
  return as_float(as_uint(x) & U(~sgd_bits<typename ftraits<F>::elem>::SIGN));
}
// |a| with the sign of s (a >= 0 here, so OR-ing the sign bit is copysign).
template <class F> REGCORE_HD F sgd_with_sign_of(F a, F s) {
  using U = typename ftraits<F>::uint;
  return as_float(as_uint(a) | (as_uint(s) & U(sgd_bits<typename ftraits<F>::elem>::SIGN)));
}

// sign(w) in {-1, 0, +1}; a NaN weight gives 0 here but stays NaN through the step itself.
template <class F> REGCORE_HD F sgd_sign(F w) {
  using E = typename ftraits<F>::elem;
  return vselect(vgt(w, F(E(0))), F(E(1)), vselect(vgt(F(E(0)), w), F(E(-1)), F(E(0))));
}

// Soft threshold S_t(w) = sign(w) * max(|w| - t, 0). Weights inside [-t, t] become +0.0
// exactly (that is the point of the proximal step); a NaN weight stays NaN (a*0 is NaN).
template <class F> REGCORE_HD F sgd_soft_threshold(F w, F t) {
  using E = typename ftraits<F>::elem;
  F a = sgd_abs(w) - t;
  return vselect(vgt(a, F(E(0))), sgd_with_sign_of(a, w), sgd_abs(a * F(E(0))));
}

// The hyper-parameters rounded once to the arithmetic type C of the tensor (docs/sgd.md).
template <class C>
REGCORE_HD SgdParams<C> sgd_params(const SgdHyper& h) {
  return SgdParams<C>{C(h.lr), C(h.momentum), C(h.damp_keep), C(h.wd), C(h.decay_keep), C(h.l1), C(h.l1_thr),
                      h.flags};
}

// One step for w (in/out), g and the momentum buffer b (in/out; untouched without momentum,
// not read when first). P is SgdParams<elem>.
template <class F, class P>
REGCORE_HD void sgd_rule(F& w, F g, F& b, bool first, const P& p) {
  const uint32_t f = p.flags;
  if (f & kSgdMaximize) g = sgd_neg(g);
  if (f & kSgdL1Subgrad) g = g + F(p.l1) * sgd_sign(w);
  if (f & kSgdWeightDecay) g = g + F(p.wd) * w;
  F d = g;
  if (f & kSgdMomentum) {
    b = first ? g : F(p.momentum) * b + F(p.damp_keep) * g;
    d = (f & kSgdNesterov) ? g + F(p.momentum) * b : b;
  }
  if (f & kSgdDecoupled) w = w * F(p.decay_keep);
  w = w - F(p.lr) * d;
  if (f & kSgdL1Prox) w = sgd_soft_threshold(w, F(p.l1_thr));
}

// The per-neuron max-norm factor from the float64 sum of squares of the neuron's weights:
// 1 (no change) when the norm is within c, else c / norm rounded to the weight's dtype.
REGCORE_HD double sgd_max_norm_scale(double sumsq, double c) {
  const double norm = vsqrt(sumsq);
  return norm > c ? c / norm : 1.0;
}

// Canonical order of every sum in this family (max-norm row norms, penalty): 16 float64 lanes,
// element k of a contiguous segment goes to lane k % 16 and each lane adds in element order;
// the lanes are then combined by this fixed tree. Any SIMD width can follow it exactly.
REGCORE_HD double sgd_lane_tree(const double acc[16]) {
  double t[16];
  for (int k = 0; k < 16; ++k) t[k] = acc[k];
  for (int h = 8; h >= 1; h >>= 1)
    for (int k = 0; k < h; ++k) t[k] = t[k] + t[k + h];
  return t[0];
}

REGCORE_CORE_END
