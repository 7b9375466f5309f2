// Scalar overloads of the small vocabulary the core templates are written in (bit casts,
// selects, 32x32->64 multiplies). The CPU SIMD layer provides the same names for vector types,
// so one template in core/ is the formula for scalar C++, every SIMD width and CUDA.
#pragma once
#include <cstring>
#include <cmath>
#include "config.h"

REGCORE_CORE_BEGIN

REGCORE_HD void mulhilo32(uint32_t a, uint32_t m, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__)
  hi = __umulhi(a, m);
  lo = a * m;
#else
  uint64_t p = uint64_t(a) * uint64_t(m);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
#endif
}

REGCORE_HD uint32_t as_uint(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u; std::memcpy(&u, &x, 4); return u;
#endif
}
REGCORE_HD uint64_t as_uint(double x) {
#if defined(__CUDA_ARCH__)
  return (uint64_t)__double_as_longlong(x);
#else
  uint64_t u; std::memcpy(&u, &x, 8); return u;
#endif
}
REGCORE_HD float as_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x; std::memcpy(&x, &u, 4); return x;
#endif
}
REGCORE_HD double as_float(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double((long long)u);
#else
  double x; std::memcpy(&x, &u, 8); return x;
#endif
}

// Exact conversions of small non-negative integers (< 2^31) to floating point.
REGCORE_HD float to_f32(uint32_t u) { return float(int32_t(u)); }
REGCORE_HD double to_f64(uint32_t u) { return double(int32_t(u)); }
REGCORE_HD double to_f64(uint64_t u) { return double(int64_t(u)); }
REGCORE_HD uint64_t widen_u64(uint32_t u) { return uint64_t(u); }

REGCORE_HD bool vgt(float a, float b) { return a > b; }
REGCORE_HD bool vgt(double a, double b) { return a > b; }
// a <= b: false when either is NaN (ordered compare), unlike !(a > b).
REGCORE_HD bool vle(float a, float b) { return a <= b; }
REGCORE_HD bool vle(double a, double b) { return a <= b; }
REGCORE_HD float vselect(bool m, float a, float b) { return m ? a : b; }
REGCORE_HD double vselect(bool m, double a, double b) { return m ? a : b; }
REGCORE_HD float vsqrt(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}
REGCORE_HD double vsqrt(double x) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}
// min that is exact and ordered the same on every backend (no NaN can reach it).
REGCORE_HD float vmin(float a, float b) { return b < a ? b : a; }
REGCORE_HD double vmin(double a, double b) { return b < a ? b : a; }

// Element and bit types of a (scalar or vector) floating-point type.
template <class F> struct ftraits;
template <> struct ftraits<float> { using elem = float; using uint = uint32_t; };
template <> struct ftraits<double> { using elem = double; using uint = uint64_t; };

REGCORE_CORE_END

REGCORE_CORE_BEGIN
// Exact conversion of a small bit-type value (< 2^31, < 2^52) to the float type of its width.
REGCORE_HD float to_fp(uint32_t u) { return float(int32_t(u)); }
REGCORE_HD double to_fp(uint64_t u) { return double(int64_t(u)); }
REGCORE_CORE_END

// ---- batchnorm family: float64 widening of one element (the SIMD forms are widen_lo/hi), so the
// scalar tails of the statistics kernels accumulate exactly like the float64 lanes.
REGCORE_CORE_BEGIN
REGCORE_HD double widen(float a) { return double(a); }
REGCORE_HD double widen(double a) { return a; }
REGCORE_CORE_END

// ---- dropout family: mask bytes <-> keep words (scalar; the SIMD headers have their own).
REGCORE_CORE_BEGIN
#if !defined(REGCORE_ISA_avx2) && !defined(REGCORE_ISA_avx512)
REGCORE_HD uint32_t bytes_to_word(const uint8_t* b) {
  uint32_t w = 0;
  for (int j = 0; j < 32; ++j) w |= uint32_t(b[j] != 0) << j;
  return w;
}
REGCORE_HD void word_to_bytes(uint32_t w, uint8_t* b) {
  for (int j = 0; j < 32; ++j) b[j] = uint8_t((w >> j) & 1u);
}
#endif
REGCORE_CORE_END

// ---- init family: clamps and the float64 lanes that compute a float32 or float64 result.
REGCORE_CORE_BEGIN
// max that is exact and ordered the same on every backend (b > a ? b : a, like vmin).
REGCORE_HD float vmax(float a, float b) { return b > a ? b : a; }
REGCORE_HD double vmax(double a, double b) { return b > a ? b : a; }
// f64_lanes<R>: float64 lanes, as many as R has (R = the output lanes of an E = 2 draw).
template <class R> struct f64_lanes;
template <> struct f64_lanes<float> { using type = double; };
template <> struct f64_lanes<double> { using type = double; };
// Round-to-nearest float64 -> output precision (the second argument only picks the overload).
REGCORE_HD float narrow_to(double x, float) { return float(x); }
REGCORE_HD double narrow_to(double x, double) { return x; }
// Whether any lane of a comparison mask is set (to skip work no lane needs; never changes bits).
REGCORE_HD bool vany(bool m) { return m; }
REGCORE_CORE_END
