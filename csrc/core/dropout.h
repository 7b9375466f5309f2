// The dropout family's per-element math, shared by every backend (numpy mirrors it in
// python/regcore/_backends/numpy_backend/dropout.py; docs/dropout.md states it in prose).
//
// Keep rule. Element i of a call reads the 32-bit stream word w_i = word (i mod 4) of counter
// block offset + floor(i / 4) (core/stream.h, E = 4). With t = round(p * 2^32) (nearest, ties to
// even), element i is kept iff w_i >= t; t = 2^32 (p = 1, or p within 2^-33 of 1) drops every
// element, which a uint32 cannot hold, so it travels as drop_all = 1. The keep probability is
// exactly (2^32 - t) / 2^32. An integer compare: no float rounding can make two backends disagree.
//
// Bit masks. Keep bit of element i = bit (i mod 32) of uint32 word floor(i / 32) (little-endian:
// bit i mod 8 of byte floor(i / 8)); the pad bits of the last word are zero. One word is the unit
// of work everywhere (threads own whole words, SIMD groups produce whole words), so no word is
// ever written by two threads.
#pragma once
#include <math.h>
#include "stream.h"

REGCORE_CORE_BEGIN

// Keep bit of one word (scalar): drop_all is 0 or 1.
REGCORE_HD uint32_t keep_bit(uint32_t w, uint32_t t, uint32_t drop_all) {
  return uint32_t(w >= t) & (drop_all ^ 1u);
}

// Keep word q (elements 32q .. 32q+31): counter blocks offset + 8q .. offset + 8q + 7, block j
// word k -> bit 4j + k. Scalar reference of what the SIMD and CUDA paths compute in lanes.
REGCORE_HD uint32_t keep_word(const StreamKey& key, uint64_t offset, uint64_t q, uint32_t t,
                              uint32_t drop_all) {
  if (drop_all) return 0u;
  if (t == 0u) return 0xFFFFFFFFu;  // p = 0: every word passes, no need to draw it
  uint32_t word = 0;
  for (int j = 0; j < 8; ++j) {
    uint32_t w[4];
    stream_block(key, offset + 8 * q + uint64_t(j), w);
    for (int k = 0; k < 4; ++k) word |= uint32_t(w[k] >= t) << (4 * j + k);
  }
  return word;
}

// ---- Activations of bias_act_dropout: f(z) and f'(z), in the data precision, through the C
// math library (plain extern functions: no inline code of another ISA can leak in; on CUDA the
// same names are the device functions). Not bit-identical across backends; docs state the
// tolerance.
enum Activation : int { ACT_IDENTITY = 0, ACT_RELU = 1, ACT_GELU_ERF = 2, ACT_GELU_TANH = 3,
                        ACT_TANH = 4, ACT_SIGMOID = 5 };

REGCORE_HD float m_exp(float x) { return expf(x); }
REGCORE_HD double m_exp(double x) { return exp(x); }
REGCORE_HD float m_tanh(float x) { return tanhf(x); }
REGCORE_HD double m_tanh(double x) { return tanh(x); }
REGCORE_HD float m_erfc(float x) { return erfcf(x); }
REGCORE_HD double m_erfc(double x) { return erfc(x); }

template <class T> struct act_const {
  static constexpr T SQRT_2_OVER_PI = T(0.79788456080286535588);   // sqrt(2/pi)
  static constexpr T INV_SQRT2 = T(0.70710678118654752440);        // 1/sqrt(2)
  static constexpr T INV_SQRT_2PI = T(0.39894228040143267794);     // 1/sqrt(2 pi)
  static constexpr T GELU_C = T(0.044715);
};

// f(z) and f'(z) together (backward needs only d; forward only f).
template <class T>
REGCORE_HD void activation(int act, T z, T& f, T& d) {
  using K = act_const<T>;
  switch (act) {
    case ACT_RELU: f = z > T(0) ? z : T(0); d = z > T(0) ? T(1) : T(0); return;
    // Both GELUs are written as z * (a probability computed without 1 + (-1 + tiny)): the
    // textbook 0.5 z (1 + erf) or 0.5 z (1 + tanh) loses every digit for z << 0 in float32.
    case ACT_GELU_ERF: {  // Phi(z) = erfc(-z / sqrt 2) / 2
      const T cdf = T(0.5) * m_erfc(-z * K::INV_SQRT2);
      f = z * cdf;
      d = cdf + z * (K::INV_SQRT_2PI * m_exp(T(-0.5) * z * z));
      return;
    }
    case ACT_GELU_TANH: {  // (1 + tanh u) / 2 = sigmoid(2u), u = sqrt(2/pi) (z + 0.044715 z^3)
      const T z2 = z * z;
      const T u = K::SQRT_2_OVER_PI * (z + K::GELU_C * z2 * z);
      const T s = T(1) / (T(1) + m_exp(T(-2) * u));
      f = z * s;
      d = s + z * (T(2) * s * (T(1) - s)) * (K::SQRT_2_OVER_PI * (T(1) + T(3) * K::GELU_C * z2));
      return;
    }
    case ACT_TANH: { const T th = m_tanh(z); f = th; d = T(1) - th * th; return; }
    case ACT_SIGMOID: {
      // 1/(1+e^-z): e^-z overflows to inf for z < -88 (float) and the result is then exactly 0.
      const T s = T(1) / (T(1) + m_exp(-z));
      f = s; d = s * (T(1) - s);
      return;
    }
    default: f = z; d = T(1); return;
  }
}

REGCORE_CORE_END
