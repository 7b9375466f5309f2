// AVX2 + FMA lane types (no product is ever fused into a sum: -ffp-contract=off, see
// core/float_math.h; the only fused instructions are vadd_fma / vsub_fma's exact a*1 +- b and vmuladd_exact's
// exact products).
// Included only by translation units built with -mavx2 -mfma, inside the avx2 inline namespace.
#pragma once
#include <immintrin.h>
#include "../../core/scalar_ops.h"

#define REGCORE_SIMD_W 8

REGCORE_CORE_BEGIN

struct VU32 {
  __m256i v;
  VU32() = default;
  explicit VU32(__m256i x) : v(x) {}
  VU32(uint32_t c) : v(_mm256_set1_epi32(int(c))) {}
};
struct VF32 {
  __m256 v;
  VF32() = default;
  explicit VF32(__m256 x) : v(x) {}
  VF32(float c) : v(_mm256_set1_ps(c)) {}
};
struct MF32 { __m256 m; };
struct VU32H {
  __m128i v;
  VU32H() = default;
  explicit VU32H(__m128i x) : v(x) {}
  VU32H(uint32_t c) : v(_mm_set1_epi32(int(c))) {}
};
struct VU64 {
  __m256i v;
  VU64() = default;
  explicit VU64(__m256i x) : v(x) {}
  VU64(uint64_t c) : v(_mm256_set1_epi64x((long long)c)) {}
};
struct VF64 {
  __m256d v;
  VF64() = default;
  explicit VF64(__m256d x) : v(x) {}
  VF64(double c) : v(_mm256_set1_pd(c)) {}
};
struct MF64 { __m256d m; };

template <> struct ftraits<VF32> { using elem = float; using uint = VU32; };
template <> struct ftraits<VF64> { using elem = double; using uint = VU64; };

// --- 32-bit lanes
REGCORE_HD VU32 operator^(VU32 a, VU32 b) { return VU32(_mm256_xor_si256(a.v, b.v)); }
REGCORE_HD VU32 operator&(VU32 a, VU32 b) { return VU32(_mm256_and_si256(a.v, b.v)); }
REGCORE_HD VU32 operator|(VU32 a, VU32 b) { return VU32(_mm256_or_si256(a.v, b.v)); }
REGCORE_HD VU32 operator+(VU32 a, VU32 b) { return VU32(_mm256_add_epi32(a.v, b.v)); }
REGCORE_HD VU32 operator-(VU32 a, VU32 b) { return VU32(_mm256_sub_epi32(a.v, b.v)); }
REGCORE_HD VU32 operator>>(VU32 a, int s) { return VU32(_mm256_srli_epi32(a.v, s)); }
REGCORE_HD VU32 operator<<(VU32 a, int s) { return VU32(_mm256_slli_epi32(a.v, s)); }
REGCORE_HD void mulhilo32(VU32 a, uint32_t m, VU32& hi, VU32& lo) {
  const __m256i mv = _mm256_set1_epi32(int(m));
  __m256i even = _mm256_mul_epu32(a.v, mv);
  __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a.v, 32), mv);
  lo = VU32(_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA));
  hi = VU32(_mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA));
}
REGCORE_HD VF32 to_f32(VU32 a) { return VF32(_mm256_cvtepi32_ps(a.v)); }
REGCORE_HD VF32 to_fp(VU32 a) { return to_f32(a); }
REGCORE_HD VF32 as_float(VU32 a) { return VF32(_mm256_castsi256_ps(a.v)); }
REGCORE_HD VU32 lane_iota() { return VU32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
REGCORE_HD VU32H lo_half(VU32 a) { return VU32H(_mm256_castsi256_si128(a.v)); }
REGCORE_HD VU32H hi_half(VU32 a) { return VU32H(_mm256_extracti128_si256(a.v, 1)); }

// --- float32 lanes
REGCORE_HD VF32 operator+(VF32 a, VF32 b) { return VF32(_mm256_add_ps(a.v, b.v)); }
REGCORE_HD VF32 operator-(VF32 a, VF32 b) { return VF32(_mm256_sub_ps(a.v, b.v)); }
REGCORE_HD VF32 operator*(VF32 a, VF32 b) { return VF32(_mm256_mul_ps(a.v, b.v)); }
REGCORE_HD VF32 operator/(VF32 a, VF32 b) { return VF32(_mm256_div_ps(a.v, b.v)); }
REGCORE_HD VF32 vsqrt(VF32 a) { return VF32(_mm256_sqrt_ps(a.v)); }
REGCORE_HD VF32 vmin(VF32 a, VF32 b) { return VF32(_mm256_min_ps(b.v, a.v)); }
REGCORE_HD MF32 vgt(VF32 a, VF32 b) { return MF32{_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
REGCORE_HD MF32 vle(VF32 a, VF32 b) { return MF32{_mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ)}; }
REGCORE_HD VF32 vselect(MF32 m, VF32 a, VF32 b) { return VF32(_mm256_blendv_ps(b.v, a.v, m.m)); }
REGCORE_HD VU32 as_uint(VF32 a) { return VU32(_mm256_castps_si256(a.v)); }

// --- half-width 32-bit lanes
REGCORE_HD VU32H operator^(VU32H a, VU32H b) { return VU32H(_mm_xor_si128(a.v, b.v)); }
REGCORE_HD VU32H operator&(VU32H a, VU32H b) { return VU32H(_mm_and_si128(a.v, b.v)); }
REGCORE_HD VU32H operator|(VU32H a, VU32H b) { return VU32H(_mm_or_si128(a.v, b.v)); }
REGCORE_HD VU32H operator+(VU32H a, VU32H b) { return VU32H(_mm_add_epi32(a.v, b.v)); }
REGCORE_HD VU32H operator-(VU32H a, VU32H b) { return VU32H(_mm_sub_epi32(a.v, b.v)); }
REGCORE_HD VU32H operator>>(VU32H a, int s) { return VU32H(_mm_srli_epi32(a.v, s)); }
REGCORE_HD VU32H operator<<(VU32H a, int s) { return VU32H(_mm_slli_epi32(a.v, s)); }
REGCORE_HD VF64 to_f64(VU32H a) { return VF64(_mm256_cvtepi32_pd(a.v)); }
REGCORE_HD VU64 widen_u64(VU32H a) { return VU64(_mm256_cvtepu32_epi64(a.v)); }

// --- 64-bit lanes
REGCORE_HD VU64 operator^(VU64 a, VU64 b) { return VU64(_mm256_xor_si256(a.v, b.v)); }
// Philox in 64-bit lanes (kernels/philox_lanes.h): the 64-bit product of each lane's low word and
// m; the W lanes 2j <- even[j], 2j+1 <- odd[j] (low words).
REGCORE_HD VU64 mul_wide32(VU64 a, uint32_t m) { return VU64(_mm256_mul_epu32(a.v, _mm256_set1_epi64x(m))); }
REGCORE_HD VU32 interleave_lo32(VU64 even, VU64 odd) {
  return VU32(_mm256_blend_epi32(even.v, _mm256_slli_epi64(odd.v, 32), 0xAA));
}
REGCORE_HD VU64 operator&(VU64 a, VU64 b) { return VU64(_mm256_and_si256(a.v, b.v)); }
REGCORE_HD VU64 operator|(VU64 a, VU64 b) { return VU64(_mm256_or_si256(a.v, b.v)); }
REGCORE_HD VU64 operator+(VU64 a, VU64 b) { return VU64(_mm256_add_epi64(a.v, b.v)); }
REGCORE_HD VU64 operator-(VU64 a, VU64 b) { return VU64(_mm256_sub_epi64(a.v, b.v)); }
REGCORE_HD VU64 operator>>(VU64 a, int s) { return VU64(_mm256_srli_epi64(a.v, s)); }
REGCORE_HD VU64 operator<<(VU64 a, int s) { return VU64(_mm256_slli_epi64(a.v, s)); }
// Exact for a < 2^52 (AVX2 has no 64-bit integer conversion): plant a in the mantissa of 2^52.
REGCORE_HD VF64 to_fp(VU64 a) {
  const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);
  return VF64(_mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(a.v, magic)),
                            _mm256_set1_pd(0x1p52)));
}
REGCORE_HD VF64 as_float(VU64 a) { return VF64(_mm256_castsi256_pd(a.v)); }

// --- float64 lanes
REGCORE_HD VF64 operator+(VF64 a, VF64 b) { return VF64(_mm256_add_pd(a.v, b.v)); }
REGCORE_HD VF64 operator-(VF64 a, VF64 b) { return VF64(_mm256_sub_pd(a.v, b.v)); }
REGCORE_HD VF64 operator*(VF64 a, VF64 b) { return VF64(_mm256_mul_pd(a.v, b.v)); }
REGCORE_HD VF64 operator/(VF64 a, VF64 b) { return VF64(_mm256_div_pd(a.v, b.v)); }
REGCORE_HD VF64 vsqrt(VF64 a) { return VF64(_mm256_sqrt_pd(a.v)); }
REGCORE_HD VF64 vmin(VF64 a, VF64 b) { return VF64(_mm256_min_pd(b.v, a.v)); }
REGCORE_HD MF64 vgt(VF64 a, VF64 b) { return MF64{_mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ)}; }
REGCORE_HD MF64 vle(VF64 a, VF64 b) { return MF64{_mm256_cmp_pd(a.v, b.v, _CMP_LE_OQ)}; }
REGCORE_HD VF64 vselect(MF64 m, VF64 a, VF64 b) { return VF64(_mm256_blendv_pd(b.v, a.v, m.m)); }
REGCORE_HD VU64 as_uint(VF64 a) { return VU64(_mm256_castpd_si256(a.v)); }

// --- stores in element order. Lane l of r[k] is element E*l + k.
REGCORE_HD void store_transposed4(float* out, const VF32 r[4]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0].v, r[1].v), t1 = _mm256_unpackhi_ps(r[0].v, r[1].v);
  __m256 t2 = _mm256_unpacklo_ps(r[2].v, r[3].v), t3 = _mm256_unpackhi_ps(r[2].v, r[3].v);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u1, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
}
REGCORE_HD void store_transposed4(uint32_t* out, const VU32 r[4]) {
  VF32 f[4] = {as_float(r[0]), as_float(r[1]), as_float(r[2]), as_float(r[3])};
  store_transposed4(reinterpret_cast<float*>(out), f);
}
REGCORE_HD void store_interleaved2(double* out, const VF64 r[2]) {
  __m256d lo = _mm256_unpacklo_pd(r[0].v, r[1].v), hi = _mm256_unpackhi_pd(r[0].v, r[1].v);
  _mm256_storeu_pd(out, _mm256_permute2f128_pd(lo, hi, 0x20));
  _mm256_storeu_pd(out + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
}
// r[i] lane l -> r[l] lane i (the 4x4 float64 transpose).
REGCORE_HD void transpose_f64(VF64 r[4]) {
  const __m256d t0 = _mm256_unpacklo_pd(r[0].v, r[1].v), t1 = _mm256_unpackhi_pd(r[0].v, r[1].v);
  const __m256d t2 = _mm256_unpacklo_pd(r[2].v, r[3].v), t3 = _mm256_unpackhi_pd(r[2].v, r[3].v);
  r[0] = VF64(_mm256_permute2f128_pd(t0, t2, 0x20));
  r[1] = VF64(_mm256_permute2f128_pd(t1, t3, 0x20));
  r[2] = VF64(_mm256_permute2f128_pd(t0, t2, 0x31));
  r[3] = VF64(_mm256_permute2f128_pd(t1, t3, 0x31));
}


// ---- init family: float32 lanes as wide as VF64 (results of E = 2 draws in float32), clamps.
struct VF32H {
  __m128 v;
  VF32H() = default;
  explicit VF32H(__m128 x) : v(x) {}
  VF32H(float c) : v(_mm_set1_ps(c)) {}
};
template <> struct f64_lanes<VF32H> { using type = VF64; };
template <> struct f64_lanes<VF64> { using type = VF64; };
REGCORE_HD VF32H narrow_to(VF64 x, VF32H) { return VF32H(_mm256_cvtpd_ps(x.v)); }
REGCORE_HD VF64 narrow_to(VF64 x, VF64) { return x; }
REGCORE_HD bool vany(MF64 m) { return _mm256_movemask_pd(m.m) != 0; }
REGCORE_HD VF32H vmin(VF32H a, VF32H b) { return VF32H(_mm_min_ps(b.v, a.v)); }
REGCORE_HD VF32H vmax(VF32H a, VF32H b) { return VF32H(_mm_max_ps(b.v, a.v)); }  // b > a ? b : a
REGCORE_HD VF32 vmax(VF32 a, VF32 b) { return VF32(_mm256_max_ps(b.v, a.v)); }
REGCORE_HD VF64 vmax(VF64 a, VF64 b) { return VF64(_mm256_max_pd(b.v, a.v)); }
REGCORE_HD void store_interleaved2(float* out, const VF32H r[2]) {
  _mm_storeu_ps(out, _mm_unpacklo_ps(r[0].v, r[1].v));
  _mm_storeu_ps(out + 4, _mm_unpackhi_ps(r[0].v, r[1].v));
}
REGCORE_CORE_END

// ---- batchnorm family: unaligned loads/stores and float32 -> float64 widening (the statistics
// of float32 data accumulate in float64 lanes).
REGCORE_CORE_BEGIN
REGCORE_HD VF32 vload(const float* p) { return VF32(_mm256_loadu_ps(p)); }
REGCORE_HD VF64 vload(const double* p) { return VF64(_mm256_loadu_pd(p)); }
REGCORE_HD void vstore(float* p, VF32 a) { _mm256_storeu_ps(p, a.v); }
REGCORE_HD void vstore(double* p, VF64 a) { _mm256_storeu_pd(p, a.v); }
REGCORE_HD VF64 widen_lo(VF32 a) { return VF64(_mm256_cvtps_pd(_mm256_castps256_ps128(a.v))); }
REGCORE_HD VF64 widen_hi(VF32 a) { return VF64(_mm256_cvtps_pd(_mm256_extractf128_ps(a.v, 1))); }
// a + b and a - b as the fused a*1 + b and a*1 - b: the same bits as operator+ / operator-
// (simd/vec_avx512.h explains), on the multiply pipes.
REGCORE_HD VF64 vadd_fma(VF64 a, VF64 b) { return VF64(_mm256_fmadd_pd(a.v, _mm256_set1_pd(1.0), b.v)); }
REGCORE_HD VF64 vsub_fma(VF64 a, VF64 b) { return VF64(_mm256_fmsub_pd(a.v, _mm256_set1_pd(1.0), b.v)); }
// a*b + c with one rounding, ONLY for products exact in float64: widened float32 or 16-bit
// values (at most 24 + 24 = 48 significant bits, and no product of them leaves float64's normal
// range). Then a*b needs no rounding and this rounds the exact sum once: the same bits as
// a * b + c, in one multiply-pipe instruction instead of a multiply and an add (the backward
// sums, which widen two values and add two products per element, were bound by those pipes).
REGCORE_HD VF64 vmuladd_exact(VF64 a, VF64 b, VF64 c) { return VF64(_mm256_fmadd_pd(a.v, b.v, c.v)); }
// Half a float32 vector (W/2 lanes, as many as VF64).
REGCORE_HD VF32H vload_h(const float* p) { return VF32H(_mm_loadu_ps(p)); }
REGCORE_HD VF32H operator+(VF32H a, VF32H b) { return VF32H(_mm_add_ps(a.v, b.v)); }
REGCORE_HD VF32H operator-(VF32H a, VF32H b) { return VF32H(_mm_sub_ps(a.v, b.v)); }
// a - b as a*1 - b on the multiply pipes (vsub_fma above: the same bits).
REGCORE_HD VF32H vsub_fma(VF32H a, VF32H b) { return VF32H(_mm_fmsub_ps(a.v, _mm_set1_ps(1.0f), b.v)); }
REGCORE_HD VF32H operator*(VF32H a, VF32H b) { return VF32H(_mm_mul_ps(a.v, b.v)); }
REGCORE_HD VF64 widen(VF32H a) { return VF64(_mm256_cvtps_pd(a.v)); }
REGCORE_CORE_END

// ---- dropout family: loads/stores, keep-bit masks, the in-register 4xW transpose.
REGCORE_CORE_BEGIN
// Lanes whose bit (bit l for lane l) is clear become +0; an AND, so inf/NaN there vanish too.
REGCORE_HD VF32 vkeep(uint32_t bits, VF32 a) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  __m256i m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(bits)), sel), sel);
  return VF32(_mm256_and_ps(_mm256_castsi256_ps(m), a.v));
}
REGCORE_HD VF64 vkeep(uint32_t bits, VF64 a) {
  const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
  __m256i m = _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x((long long)bits), sel), sel);
  return VF64(_mm256_and_pd(_mm256_castsi256_pd(m), a.v));
}
// Bit l = (lane l >= t), unsigned: max(w, t) == w.
REGCORE_HD uint32_t ge_bits(VU32 w, uint32_t t) {
  __m256i eq = _mm256_cmpeq_epi32(_mm256_max_epu32(w.v, _mm256_set1_epi32(int(t))), w.v);
  return uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(eq)));
}
// in[k] lane l holds element 4l + k (one Philox block per lane); out[j] lane l holds element
// jW + l (memory order). Same shuffles as store_transposed4, kept in registers.
REGCORE_HD void transpose4(const VU32 in[4], VU32 out[4]) {
  __m256 r0 = _mm256_castsi256_ps(in[0].v), r1 = _mm256_castsi256_ps(in[1].v);
  __m256 r2 = _mm256_castsi256_ps(in[2].v), r3 = _mm256_castsi256_ps(in[3].v);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  out[0] = VU32(_mm256_castps_si256(_mm256_permute2f128_ps(u0, u1, 0x20)));
  out[1] = VU32(_mm256_castps_si256(_mm256_permute2f128_ps(u2, u3, 0x20)));
  out[2] = VU32(_mm256_castps_si256(_mm256_permute2f128_ps(u0, u1, 0x31)));
  out[3] = VU32(_mm256_castps_si256(_mm256_permute2f128_ps(u2, u3, 0x31)));
}
// 32 mask bytes (0 = dropped) -> one keep word.
REGCORE_HD uint32_t bytes_to_word(const uint8_t* b) {
  __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  return ~uint32_t(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256())));
}
// One keep word -> 32 mask bytes (1 = kept).
REGCORE_HD void word_to_bytes(uint32_t w, uint8_t* b) {
  // byte j takes bit j: broadcast the word's byte j/8 to bytes j, then test bit j%8.
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  // shuffle_epi8 works within 128-bit halves: indices 2,3 in the high half address its bytes
  // 0..15 only, so load the word into both halves first.
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(w)), spread);
  __m256i m = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b), _mm256_and_si256(m, _mm256_set1_epi8(1)));
}
REGCORE_CORE_END

// ---- sgd family: float32 -> float64 widening loads (vload/vstore come from the block above).
REGCORE_CORE_BEGIN
// W/2 consecutive values as float64 lanes (exact).
REGCORE_HD VF64 vload_f64(const float* p) { return VF64(_mm256_cvtps_pd(_mm_loadu_ps(p))); }
REGCORE_HD VF64 vload_f64(const double* p) { return VF64(_mm256_loadu_pd(p)); }
REGCORE_HD void vstore_f64(double* p, VF64 x) { _mm256_storeu_pd(p, x.v); }
REGCORE_CORE_END

// ---- dropout family (round 2): whether any float32 lane of a compare is set.
REGCORE_CORE_BEGIN
REGCORE_HD bool vany(MF32 m) { return _mm256_movemask_ps(m.m) != 0; }
REGCORE_CORE_END

// ---- batchnorm family: non-temporal stores (p aligned to 32 bytes) and the fence after them.
REGCORE_CORE_BEGIN
REGCORE_HD void vstream(float* p, VF32 a) { _mm256_stream_ps(p, a.v); }
REGCORE_HD void vstream(double* p, VF64 a) { _mm256_stream_pd(p, a.v); }
REGCORE_HD void vstream_fence() { _mm_sfence(); }
REGCORE_CORE_END

// ---- 16-bit storage (core/half.h): W elements <-> float32 lanes, the same bits as the scalar
// conversions (checked over every 16-bit pattern). float16 uses F16C, whose conversions are
// exact one way and round to nearest even the other with subnormals kept and NaNs quieted to the
// top payload bits, exactly as f16_to_f32 / f32_to_f16 (with MXCSR's DAZ clear, Python's default).
// bfloat16 uses integer shifts.
#include "../../core/half.h"
REGCORE_CORE_BEGIN
REGCORE_HD VF32 vload(const bfloat16_t* p) {
  __m256i u = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16);
  // |u| > inf as signed 32-bit compares (both below 2^31): NaN, made quiet.
  __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  u = _mm256_or_si256(u, _mm256_and_si256(nan, _mm256_set1_epi32(0x00400000)));
  return VF32(_mm256_castsi256_ps(u));
}
// Round to nearest even, result in the lower 16 bits of each lane: f32_to_bf16's formula; a NaN
// lane (one float compare finds them) takes (u >> 16) | 0x40, the quiet NaN f32_to_bf16 gives.
REGCORE_HD __m256i bf16_round(VF32 a) {
  const __m256i u = _mm256_castps_si256(a.v);
  const __m256i hi = _mm256_srli_epi32(u, 16);
  const __m256i odd = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), odd), 16);
  const __m256i qnan = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(qnan),
                                              _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q)));
}
REGCORE_HD void vstore(bfloat16_t* p, VF32 a) {
  const __m256i r = bf16_round(a);
  // 8 values < 2^16 -> 8 uint16: packus works per 128-bit half, so reorder the 64-bit pieces.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}
// f32_to_bf16's rounding of lanes that hold no NaN (bf16_round without the NaN blend).
REGCORE_HD __m256i bf16_round_finite(VF32 a) {
  const __m256i u = _mm256_castps_si256(a.v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), odd), 16);
}
// 2W consecutive elements from two vectors: one pack and one reorder for both. One test for NaN
// in either vector picks the rounding without the NaN blend (the usual case; the bits are the
// same either way), which saves a third of the store's operations.
// pack2 makes the 2W elements vstore2 writes (and vstream2, the non-temporal store of them).
REGCORE_HD __m256i pack2(const bfloat16_t*, VF32 a, VF32 b) {
  const __m256 nan = _mm256_or_ps(_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q), _mm256_cmp_ps(b.v, b.v, _CMP_UNORD_Q));
  const bool any_nan = _mm256_movemask_ps(nan) != 0;
  const __m256i ra = any_nan ? bf16_round(a) : bf16_round_finite(a);
  const __m256i rb = any_nan ? bf16_round(b) : bf16_round_finite(b);
  return _mm256_permute4x64_epi64(_mm256_packus_epi32(ra, rb), 0xD8);
}
REGCORE_HD void vstore2(bfloat16_t* p, VF32 a, VF32 b) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), pack2(p, a, b));
}
// bfloat16 -> float32 without quieting a signalling NaN: only for values that go through float
// arithmetic (or a float64 widening) before anything is stored, which quiets a signalling NaN
// with its payload kept, exactly as the quieting load would have: the results are the same bits
// as with vload (the normalization kernels; elem_load stays the scalar reference).
REGCORE_HD VF32 vload_arith(const bfloat16_t* p) {
  return VF32(_mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16)));
}
REGCORE_HD VF32 vload(const float16_t* p) {
  return VF32(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
REGCORE_HD void vstore(float16_t* p, VF32 a) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(a.v, _MM_FROUND_TO_NEAREST_INT));
}
REGCORE_HD __m256i pack2(const float16_t*, VF32 a, VF32 b) {
  return _mm256_set_m128i(_mm256_cvtps_ph(b.v, _MM_FROUND_TO_NEAREST_INT), _mm256_cvtps_ph(a.v, _MM_FROUND_TO_NEAREST_INT));
}
REGCORE_HD void vstore2(float16_t* p, VF32 a, VF32 b) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), pack2(p, a, b));
}
// vstore2's 32 bytes with a non-temporal store (p aligned to a vector, 32 bytes: consecutive
// pairs fill whole lines in the write-combining buffers; the same bits as vstore2).
template <class S> REGCORE_HD void vstream2(S* p, VF32 a, VF32 b) {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p), pack2(p, a, b));
}
REGCORE_HD VF32 vload_arith(const float16_t* p) { return vload(p); }
// W/2 16-bit values as a half float32 vector, with vload_arith's contract.
REGCORE_HD VF32H vload_h(const bfloat16_t* p) {
  return VF32H(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))));
}
REGCORE_HD VF32H vload_h(const float16_t* p) { return VF32H(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))); }
// W 16-bit values as float64 lanes (elements 0 .. W/2-1 in lo, the rest in hi), exactly: the
// statistics' widening (vec_avx512.h has a cheaper bfloat16 form).
template <class H> REGCORE_HD void vload_wide(const H* p, VF64& lo, VF64& hi) {
  const VF32 v = vload_arith(p);
  lo = widen_lo(v);
  hi = widen_hi(v);
}
REGCORE_HD VF32 vload_arith(const float* p) { return vload(p); }
REGCORE_HD VF64 vload_arith(const double* p) { return vload(p); }
REGCORE_HD void vstore2(float* p, VF32 a, VF32 b) { vstore(p, a); vstore(p + REGCORE_SIMD_W, b); }
REGCORE_HD void vstore2(double* p, VF64 a, VF64 b) { vstore(p, a); vstore(p + REGCORE_SIMD_W / 2, b); }
REGCORE_CORE_END

// ---- stream-bound 16-bit kernels (dropout, random fills): the bfloat16 pair store with one NaN
// test for both vectors, the AVX-512 level's name for it; vstore2 here already tests once.
REGCORE_CORE_BEGIN
REGCORE_HD void vstore2_nan_tested(bfloat16_t* p, VF32 a, VF32 b) { vstore2(p, a, b); }
REGCORE_CORE_END

// ---- random fills of bfloat16 (kernels/stream_generate.h): 4W elements whose element 4l + k is
// lane l of r[k], rounded and stored in element order. Each float32 lane is rounded in place
// (bf16_round: the result in its lower 16 bits); a word blend puts r[1]'s result in the upper half
// of r[0]'s lanes (lane l -> elements 4l, 4l+1), likewise r[3] into r[2], and a dword unpack plus
// a 128-bit permute put the pairs in element order: six shuffles, where transpose4 and the pair
// stores take sixteen. Lanes without NaN round without the NaN blend (one test for all four).
#define REGCORE_HAVE_BF16_TRANSPOSED4 1
REGCORE_CORE_BEGIN
REGCORE_HD void store_transposed4(bfloat16_t* out, const VF32 r[4]) {
  const __m256 nan = _mm256_or_ps(_mm256_cmp_ps(r[0].v, r[1].v, _CMP_UNORD_Q), _mm256_cmp_ps(r[2].v, r[3].v, _CMP_UNORD_Q));
  __m256i q[4];
  if (__builtin_expect(_mm256_movemask_ps(nan) != 0, 0)) {
    for (int k = 0; k < 4; ++k) q[k] = bf16_round(r[k]);
  } else {
    for (int k = 0; k < 4; ++k) q[k] = bf16_round_finite(r[k]);
  }
  const __m256i t01 = _mm256_blend_epi16(q[0], _mm256_slli_epi32(q[1], 16), 0xAA);
  const __m256i t23 = _mm256_blend_epi16(q[2], _mm256_slli_epi32(q[3], 16), 0xAA);
  const __m256i lo = _mm256_unpacklo_epi32(t01, t23), hi = _mm256_unpackhi_epi32(t01, t23);  // [l0 l1 | l4 l5], [l2 l3 | l6 l7]
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(lo, hi, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * REGCORE_SIMD_W), _mm256_permute2x128_si256(lo, hi, 0x31));
}
REGCORE_CORE_END

// ---- dropout of bfloat16 (kernels/dropout_mask.h): 2W elements as their even and odd elements
// in float32 lanes (lane l: element 2l, 2l + 1). A bfloat16 pair is one 32-bit lane, so the even
// element is the lane shifted up and the odd one the lane with its lower half cleared, and the
// store blends the two rounded results back into one lane: no shuffle either way, where
// vload_arith / vstore2 spend one per vector plus a cross-lane reorder per pair (dropout 6%
// faster). The loads do not quiet a signalling NaN (vload_arith's contract: the values must go
// through float arithmetic before they are stored); the store gives vstore2's bits.
#define REGCORE_HAVE_BF16_EVENODD 1
REGCORE_CORE_BEGIN
REGCORE_HD void vload_evenodd(const bfloat16_t* p, VF32& even, VF32& odd) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  even = VF32(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  odd = VF32(_mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(int(0xFFFF0000u)))));
}
// Lanes whose bit 2l + parity of bits is clear become +0 (vkeep's AND).
REGCORE_HD VF32 vkeep_evenodd(uint32_t bits, int parity, VF32 a) {
  const __m256i sel = _mm256_sllv_epi32(_mm256_setr_epi32(1, 4, 16, 64, 256, 1024, 4096, 16384), _mm256_set1_epi32(parity));
  const __m256i m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(bits)), sel), sel);
  return VF32(_mm256_and_ps(_mm256_castsi256_ps(m), a.v));
}
REGCORE_HD void vstore_evenodd(bfloat16_t* p, VF32 even, VF32 odd) {
  __m256i out;
  if (__builtin_expect(_mm256_movemask_ps(_mm256_cmp_ps(even.v, odd.v, _CMP_UNORD_Q)) != 0, 0)) {
    out = _mm256_blend_epi16(bf16_round(even), _mm256_slli_epi32(bf16_round(odd), 16), 0xAA);
  } else {
    // f32_to_bf16's rounding; the odd element's result stays in the upper half, where it goes
    const __m256i ue = _mm256_castps_si256(even.v), uo = _mm256_castps_si256(odd.v);
    const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7FFF);
    const __m256i re = _mm256_add_epi32(_mm256_add_epi32(ue, half), _mm256_and_si256(_mm256_srli_epi32(ue, 16), one));
    const __m256i ro = _mm256_add_epi32(_mm256_add_epi32(uo, half), _mm256_and_si256(_mm256_srli_epi32(uo, 16), one));
    out = _mm256_blend_epi16(_mm256_srli_epi32(re, 16), ro, 0xAA);
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), out);
}
REGCORE_CORE_END

// ---- stochastic rounding (kernels/sgd.cpp). The roundings read the top 16 bits of each word
// (core/stochastic_round.h, the *_top forms), so the words travel as those halves, one per 32-bit
// lane. words_top16: the halves of 4W Philox words whose element 4l + k is lane l of in[k], in
// element order (out[j] lane l: element jW + l).
REGCORE_CORE_BEGIN
REGCORE_HD void words_top16(const VU32 in[4], VU32 out[4]) {
  transpose4(in, out);
  for (int j = 0; j < 4; ++j) out[j] = out[j] >> 16;
}
// bfloat16: the bits of vstore(p, sr_format<bfloat16_t>::round_top(x, r16)) in one pass, as the
// upper 16 bits of each lane. Off NaN, sr_bf16 clears the low 16 bits of u + r16, which the
// nearest-even store then keeps unchanged (nothing to round), so the stored half is just the
// upper half of u + r16 (a carry into the exponent included: inf from the largest finite values;
// inf itself has zero low bits and stays inf). A NaN keeps x and the store quiets it: the upper
// half of u | 0x00400000 (its word is masked off).
REGCORE_HD __m256i sr_bf16_half(VF32 x, VU32 r16) {
  const __m256i u = _mm256_castps_si256(x.v);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x.v, x.v, _CMP_UNORD_Q));
  const __m256i q = _mm256_or_si256(u, _mm256_and_si256(nan, _mm256_set1_epi32(0x00400000)));
  return _mm256_srli_epi32(_mm256_add_epi32(q, _mm256_andnot_si256(nan, r16.v)), 16);
}
REGCORE_HD void vstore_sr(bfloat16_t* p, VF32 x, VU32 r16) {
  const __m256i h = sr_bf16_half(x, r16);
  // 8 values < 2^16 -> 8 uint16: packus works per 128-bit half, so reorder the 64-bit pieces.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0xD8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}
REGCORE_HD void vstore2_sr(bfloat16_t* p, VF32 a, VF32 b, VU32 ra, VU32 rb) {
  const __m256i packed = _mm256_packus_epi32(sr_bf16_half(a, ra), sr_bf16_half(b, rb));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_permute4x64_epi64(packed, 0xD8));
}
REGCORE_CORE_END
