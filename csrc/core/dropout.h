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
#include "dropout_act.h"
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

// ---- Activations of bias_act_dropout: f(z) and f'(z) as templates over lane types (scalar,
// SIMD, CUDA), built from core/dropout_act.h: +, -, *, /, compares, selects and integer ops in
// a fixed order, so every backend (numpy included) gets the same bits.
enum Activation : int { ACT_IDENTITY = 0, ACT_RELU = 1, ACT_GELU_ERF = 2, ACT_GELU_TANH = 3,
                        ACT_TANH = 4, ACT_SIGMOID = 5 };

// f(z) and f'(z) for the compile-time activation A; callers use one of the two and the other is
// dead code once inlined.
template <int A, class F>
REGCORE_HD void activation_fd(F z, F& f, F& d) {
  using E = typename ftraits<F>::elem;
  if (A == ACT_RELU) {
    // PyTorch's relu and its gradient: f = 0 where z < 0, else z (NaN and -0 pass unchanged);
    // f' = 0 where z <= 0, else 1 (1 at NaN: the gradient passes, as threshold_backward does).
    f = vselect(vgt(F(E(0)), z), F(E(0)), z);
    d = vselect(vle(z, F(E(0))), F(E(0)), F(E(1)));
  } else if (A == ACT_GELU_ERF) {
    // z * Phi(z), Phi computed without 1 + erf (which loses every digit for z << 0).
    F cdf, pdf;
    normal_cdf_pdf(z, cdf, pdf);
    f = z * cdf;
    d = cdf + z * pdf;
  } else if (A == ACT_GELU_TANH) {
    // (1 + tanh u) / 2 = sigmoid(2u), u = sqrt(2/pi) (z + 0.044715 z^3); sigmoid' in its
    // cancellation-free form.
    const F c = F(E(0.79788456080286535588)), k = F(E(0.044715));
    const F z2 = z * z;
    const F u = c * (z + k * z2 * z);
    F s, sd;
    act_sigmoid(F(E(2)) * u, s, sd);
    f = z * s;
    d = s + z * (F(E(2)) * sd) * (c * (F(E(1)) + F(E(3)) * k * z2));
  } else if (A == ACT_TANH) {
    act_tanh(z, f, d);
  } else if (A == ACT_SIGMOID) {
    act_sigmoid(z, f, d);
  } else {
    f = z;
    d = F(E(1));
  }
}

// Runtime activation (CUDA and scalar callers).
template <class T>
REGCORE_HD void activation(int act, T z, T& f, T& d) {
  switch (act) {
    case ACT_RELU: activation_fd<ACT_RELU>(z, f, d); return;
    case ACT_GELU_ERF: activation_fd<ACT_GELU_ERF>(z, f, d); return;
    case ACT_GELU_TANH: activation_fd<ACT_GELU_TANH>(z, f, d); return;
    case ACT_TANH: activation_fd<ACT_TANH>(z, f, d); return;
    case ACT_SIGMOID: activation_fd<ACT_SIGMOID>(z, f, d); return;
    default: activation_fd<ACT_IDENTITY>(z, f, d); return;
  }
}

REGCORE_CORE_END
