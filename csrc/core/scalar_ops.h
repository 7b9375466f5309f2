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
