// How the four words of one Philox block become output elements, per draw. Each transform is a
// template over the lane types: U (32-bit words) and the output lane type R, so the same code
// runs one block at a time (scalar C++, numpy's formula, CUDA) or W blocks at a time (SIMD).
//
// E is the number of elements one block yields; element i of a call reads block offset + i/E.
//   bits      (uint32): E = 4, element 4b+k = word k.
//   uniform   (float32): E = 4, u = (w >> 8) * 2^-24 in [0, 1).
//   uniform   (float64): E = 2, element 2b+j uses words 2j, 2j+1: u = ((w0>>5)*2^26 + (w1>>6)) * 2^-53.
//   normal    (float32): E = 4, Box-Muller on word pairs (0,1) -> elements 4b, 4b+1 and (2,3) -> 4b+2, 4b+3.
//   normal    (float64): E = 2, Box-Muller on the whole block -> elements 2b, 2b+1.
// docs/random.md states the same contract in prose.
#pragma once
#include "dtype.h"
#include "float_math.h"
#include "stream.h"

REGCORE_CORE_BEGIN

// Box-Muller, float32: radius from (wa >> 8) + 1 in (0, 2^24] (never log 0), angle from
// quadrant wb >> 30 and a 24-bit fraction of a quarter turn.
template <class U, class F>
REGCORE_HD void box_muller_f32(U wa, U wb, F& z0, F& z1) {
  F u1 = to_f32((wa >> 8) + U(1)) * F(0x1p-24f);
  F r = vsqrt(log_unit(u1) * F(-2.0f));
  F a = (to_f32((wb >> 6) & U(0xFFFFFFu)) * F(0x1p-24f)) * F(fconst<float>::HALF_PI);
  F s, c, ct, st;
  sincos_quarter(a, s, c, float());
  quadrant_rotate(c, s, wb >> 30, ct, st);
  z0 = r * ct;
  z1 = r * st;
}

// Box-Muller, float64: 53-bit radius uniform from words 0,1 (plus one, so in (0, 1]); quadrant
// from word 2's top bits; 53-bit fraction of a quarter turn from word 2's low 30 and word 3's top 23.
template <class U, class F>
REGCORE_HD void box_muller_f64(const U w[4], F& z0, F& z1) {
  F k = (to_f64(w[0] >> 5) * F(0x1p26) + to_f64(w[1] >> 6)) + F(1.0);
  F r = vsqrt(log_unit(k * F(0x1p-53)) * F(-2.0));
  F f = (to_f64(w[2] & U(0x3FFFFFFFu)) * F(0x1p23) + to_f64(w[3] >> 9)) * F(0x1p-53);
  F a = f * F(fconst<double>::HALF_PI);
  F s, c, ct, st;
  sincos_quarter(a, s, c, double());
  quadrant_rotate(c, s, widen_u64(w[2] >> 30), ct, st);
  z0 = r * ct;
  z1 = r * st;
}

// 53-bit uniform in [0, 1) from two words.
template <class U, class F>
REGCORE_HD F uniform53(U w0, U w1) {
  return (to_f64(w0 >> 5) * F(0x1p26) + to_f64(w1 >> 6)) * F(0x1p-53);
}

struct BitsTransform {
  static constexpr int E = 4;
  using out_t = uint32_t;
  template <class U, class R> REGCORE_HD void apply(const U w[4], R r[4]) const {
    r[0] = w[0]; r[1] = w[1]; r[2] = w[2]; r[3] = w[3];
  }
};

// lo + span * u, clamped to hi = the largest value below the upper bound (so [lo, b) holds
// even where rounding would land on b).
struct UniformF32Transform {
  static constexpr int E = 4;
  using out_t = float;
  float lo, span, hi;
  template <class U, class R> REGCORE_HD void apply(const U w[4], R r[4]) const {
    for (int k = 0; k < 4; ++k) {
      R u = to_f32(w[k] >> 8) * R(0x1p-24f);
      r[k] = vmin(R(lo) + R(span) * u, R(hi));
    }
  }
};

struct UniformF64Transform {
  static constexpr int E = 2;
  using out_t = double;
  double lo, span, hi;
  template <class U, class R> REGCORE_HD void apply(const U w[4], R r[2]) const {
    for (int j = 0; j < 2; ++j) {
      R u = uniform53<U, R>(w[2 * j], w[2 * j + 1]);
      r[j] = vmin(R(lo) + R(span) * u, R(hi));
    }
  }
};

struct NormalF32Transform {
  static constexpr int E = 4;
  using out_t = float;
  float mean, std;
  template <class U, class R> REGCORE_HD void apply(const U w[4], R r[4]) const {
    R z0, z1, z2, z3;
    box_muller_f32(w[0], w[1], z0, z1);
    box_muller_f32(w[2], w[3], z2, z3);
    r[0] = R(mean) + R(std) * z0;
    r[1] = R(mean) + R(std) * z1;
    r[2] = R(mean) + R(std) * z2;
    r[3] = R(mean) + R(std) * z3;
  }
};

struct NormalF64Transform {
  static constexpr int E = 2;
  using out_t = double;
  double mean, std;
  template <class U, class R> REGCORE_HD void apply(const U w[4], R r[2]) const {
    R z0, z1;
    box_muller_f64(w, z0, z1);
    r[0] = R(mean) + R(std) * z0;
    r[1] = R(mean) + R(std) * z1;
  }
};

// The transform of each draw for an output of storage type S (core/dtype.h): what the kernels of
// every backend instantiate for the dtype they were handed.
template <class S> struct draw_transforms;
template <> struct draw_transforms<float> {
  using uniform = UniformF32Transform;
  using normal = NormalF32Transform;
};
template <> struct draw_transforms<double> {
  using uniform = UniformF64Transform;
  using normal = NormalF64Transform;
};
// The 16-bit formats draw in float32 (E = 4, the float32 stream layout) and round as they store:
// a bfloat16 / float16 fill is the float32 fill of the same generator state, rounded to nearest
// even (the bounds are clamped in float32 to values the 16-bit format holds, docs/random.md).
template <> struct draw_transforms<bfloat16_t> : draw_transforms<float> {};
template <> struct draw_transforms<float16_t> : draw_transforms<float> {};

// The draws for storage type S from parameters in float64 (already rounded to S's arithmetic type).
template <class S>
REGCORE_HD typename draw_transforms<S>::uniform uniform_transform(double lo, double span, double hi) {
  using C = compute_t<S>;
  return {C(lo), C(span), C(hi)};
}
template <class S> REGCORE_HD typename draw_transforms<S>::normal normal_transform(double mean, double std) {
  using C = compute_t<S>;
  return {C(mean), C(std)};
}

REGCORE_CORE_END
