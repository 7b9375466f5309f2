// The two 16-bit storage formats (bfloat16, IEEE binary16) and their conversions to and from
// float32, the type their arithmetic runs in. Written with integer operations and one float32
// addition, so scalar C++, the NumPy backend (_backends/numpy_backend/_half.py repeats every step)
// and CUDA give the same bits; the SIMD forms (cpu/simd/vec_avx2.h, vec_avx512.h) are checked bit
// for bit against these over every 16-bit pattern.
//
//   16 -> 32  exact (every bfloat16 and float16 value is a float32 value, subnormals included);
//             a signalling NaN comes back quiet (quiet bit set, payload kept).
//   32 -> 16  round to nearest, ties to even, with gradual underflow (subnormal results exact,
//             never flushed) and overflow to +-inf; a NaN stays a quiet NaN with the top bits of
//             its payload (what x86's F16C conversion does, so AVX2/AVX-512 may use it).
//
// Kernels never call these directly: they load storage elements with elem_load (scalar) or vload
// (SIMD lanes), compute in compute_t<S>, and store with elem_store / vstore. Those overloads are
// the one place the formats are converted.
#pragma once
#include <cstdint>
#include <type_traits>

#include "config.h"
#include "scalar_ops.h"

namespace regcore {

// Storage types: the 16 bits only (no arithmetic on purpose: everything goes through float32).
struct bfloat16_t {
  uint16_t bits;
};
struct float16_t {
  uint16_t bits;
};

}  // namespace regcore

REGCORE_CORE_BEGIN

// ---- bfloat16: the top half of a float32.
REGCORE_HD float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) u |= 0x00400000u;  // NaN: quiet
  return as_float(u);
}
REGCORE_HD uint16_t f32_to_bf16(float f) {
  const uint32_t u = as_uint(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: quiet
  // Ties to even: add just under half an ulp, plus one when the kept part is odd; a carry out of
  // the mantissa steps the exponent (the largest finite values round to inf, as they should).
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// ---- float16 (IEEE binary16: 5 exponent bits, bias 15, 10 fraction bits).
REGCORE_HD float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  if (e == 0x1Fu) return as_float(sign | 0x7F800000u | (m << 13) | (m ? 0x00400000u : 0u));
  if (e == 0u) {
    // Zero or subnormal m * 2^-24: an exact product, and a normal float32.
    return as_float(sign | as_uint(float(int32_t(m)) * 0x1p-24f));
  }
  return as_float(sign | ((e + 112u) << 23) | (m << 13));
}
REGCORE_HD uint16_t f32_to_f16(float f) {
  const uint32_t u = as_uint(f);
  const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
  uint32_t o;
  if (a > 0x7F800000u) {
    o = 0x7E00u | ((a >> 13) & 0x3FFu);  // NaN: quiet, top payload bits
  } else if (a >= 0x47800000u) {
    o = 0x7C00u;  // |f| >= 2^16: inf (everything from 65520 up rounds there)
  } else if (a < 0x38800000u) {
    // |f| < 2^-14, a float16 subnormal or zero: adding 0.5 puts the float16 ulp (2^-24) at the
    // float32 ulp of [0.5, 1), so the float32 addition itself rounds to nearest even; the low
    // bits are then the float16 encoding (0x400 when it rounds up to the smallest normal).
    o = as_uint(as_float(a) + 0.5f) - 0x3F000000u;
  } else {
    // Rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
    o = (a + 0xC8000FFFu + ((a >> 13) & 1u)) >> 13;
  }
  return uint16_t(o | sign);
}

// ---- storage <-> compute, one element. float and double store themselves.
REGCORE_HD float elem_load(const float* p) { return *p; }
REGCORE_HD double elem_load(const double* p) { return *p; }
REGCORE_HD float elem_load(const bfloat16_t* p) { return bf16_to_f32(p->bits); }
REGCORE_HD float elem_load(const float16_t* p) { return f16_to_f32(p->bits); }
REGCORE_HD void elem_store(float* p, float v) { *p = v; }
REGCORE_HD void elem_store(double* p, double v) { *p = v; }
REGCORE_HD void elem_store(bfloat16_t* p, float v) { p->bits = f32_to_bf16(v); }
REGCORE_HD void elem_store(float16_t* p, float v) { p->bits = f32_to_f16(v); }

// A value computed in T into a storage element: a plain store when T is the storage type (also
// for non-float words), the rounding store otherwise (random draws of a 16-bit output run in float32).
template <class S, class T> REGCORE_HD void store_as(S* p, T v) {
  if constexpr (std::is_same<S, T>::value) {
    *p = v;
  } else {
    elem_store(p, v);
  }
}

// float64 -> S rounded once (never twice): to float32 rounding to odd (a float32 result that was
// inexact gets its last bit set), then to the 16-bit format to nearest even. Float32 keeps at
// least 2 more bits than either 16-bit format, so the odd bit acts as the sticky bit and the
// result is what a direct float64 -> 16-bit rounding gives. (Only the O(C) baseline work uses it.)
REGCORE_HD float f64_to_f32_odd(double d) {
  float f = float(d);
  if (double(f) != d && d == d && (f - f) == 0.0f) {  // inexact, finite
    uint32_t u = as_uint(f);
    // f is d rounded to nearest; step toward zero when it went away from zero, then set bit 0.
    if ((double(f) > d) == (f > 0.0f) && (u & 0x7FFFFFFFu) != 0u) u -= 1u;
    f = as_float(u | 1u);
  }
  return f;
}
REGCORE_HD void elem_store_f64(float* p, double v) { *p = float(v); }
REGCORE_HD void elem_store_f64(double* p, double v) { *p = v; }
REGCORE_HD void elem_store_f64(bfloat16_t* p, double v) { p->bits = f32_to_bf16(f64_to_f32_odd(v)); }
REGCORE_HD void elem_store_f64(float16_t* p, double v) { p->bits = f32_to_f16(f64_to_f32_odd(v)); }

REGCORE_CORE_END
