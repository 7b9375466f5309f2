// AVX-512 (F, BW, DQ, VL) lane types. Included only by translation units built with those
// flags, inside the avx512 inline namespace (see core/config.h).
#pragma once
#include <immintrin.h>
#include "../../core/scalar_ops.h"

#define REGCORE_SIMD_W 16

REGCORE_CORE_BEGIN

struct VU32 {
  __m512i v;
  VU32() = default;
  explicit VU32(__m512i x) : v(x) {}
  VU32(uint32_t c) : v(_mm512_set1_epi32(int(c))) {}
};
struct VF32 {
  __m512 v;
  VF32() = default;
  explicit VF32(__m512 x) : v(x) {}
  VF32(float c) : v(_mm512_set1_ps(c)) {}
};
struct MF32 { __mmask16 m; };
struct VU32H {
  __m256i v;
  VU32H() = default;
  explicit VU32H(__m256i x) : v(x) {}
  VU32H(uint32_t c) : v(_mm256_set1_epi32(int(c))) {}
};
struct VU64 {
  __m512i v;
  VU64() = default;
  explicit VU64(__m512i x) : v(x) {}
  VU64(uint64_t c) : v(_mm512_set1_epi64((long long)c)) {}
};
struct VF64 {
  __m512d v;
  VF64() = default;
  explicit VF64(__m512d x) : v(x) {}
  VF64(double c) : v(_mm512_set1_pd(c)) {}
};
struct MF64 { __mmask8 m; };

template <> struct ftraits<VF32> { using elem = float; using uint = VU32; };
template <> struct ftraits<VF64> { using elem = double; using uint = VU64; };

// --- 32-bit lanes
REGCORE_HD VU32 operator^(VU32 a, VU32 b) { return VU32(_mm512_xor_si512(a.v, b.v)); }
REGCORE_HD VU32 operator&(VU32 a, VU32 b) { return VU32(_mm512_and_si512(a.v, b.v)); }
REGCORE_HD VU32 operator|(VU32 a, VU32 b) { return VU32(_mm512_or_si512(a.v, b.v)); }
REGCORE_HD VU32 operator+(VU32 a, VU32 b) { return VU32(_mm512_add_epi32(a.v, b.v)); }
REGCORE_HD VU32 operator-(VU32 a, VU32 b) { return VU32(_mm512_sub_epi32(a.v, b.v)); }
REGCORE_HD VU32 operator>>(VU32 a, int s) { return VU32(_mm512_srli_epi32(a.v, unsigned(s))); }
REGCORE_HD VU32 operator<<(VU32 a, int s) { return VU32(_mm512_slli_epi32(a.v, unsigned(s))); }
REGCORE_HD void mulhilo32(VU32 a, uint32_t m, VU32& hi, VU32& lo) {
  const __m512i mv = _mm512_set1_epi32(int(m));
  // 64-bit products of the even lanes and of the odd lanes (moved down by the shuffle; the
  // multiply reads only the low half of each 64-bit lane).
  __m512i even = _mm512_mul_epu32(a.v, mv);
  __m512i odd = _mm512_mul_epu32(_mm512_shuffle_epi32(a.v, _MM_PERM_DDBB), mv);
  // One masked shuffle each puts the right 32-bit halves in place: lo keeps even's low halves
  // and takes odd's low halves (moved up) in odd lanes; hi takes even's high halves (moved
  // down) in even lanes and keeps odd's high halves.
  lo = VU32(_mm512_mask_shuffle_epi32(even, 0xAAAA, odd, _MM_PERM_CCAA));
  hi = VU32(_mm512_mask_shuffle_epi32(odd, 0x5555, even, _MM_PERM_DDBB));
}
REGCORE_HD VF32 to_f32(VU32 a) { return VF32(_mm512_cvtepi32_ps(a.v)); }
REGCORE_HD VF32 to_fp(VU32 a) { return to_f32(a); }
REGCORE_HD VF32 as_float(VU32 a) { return VF32(_mm512_castsi512_ps(a.v)); }
REGCORE_HD VU32 lane_iota() {
  return VU32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}
REGCORE_HD VU32H lo_half(VU32 a) { return VU32H(_mm512_castsi512_si256(a.v)); }
REGCORE_HD VU32H hi_half(VU32 a) { return VU32H(_mm512_extracti64x4_epi64(a.v, 1)); }

// --- float32 lanes
REGCORE_HD VF32 operator+(VF32 a, VF32 b) { return VF32(_mm512_add_ps(a.v, b.v)); }
REGCORE_HD VF32 operator-(VF32 a, VF32 b) { return VF32(_mm512_sub_ps(a.v, b.v)); }
REGCORE_HD VF32 operator*(VF32 a, VF32 b) { return VF32(_mm512_mul_ps(a.v, b.v)); }
REGCORE_HD VF32 operator/(VF32 a, VF32 b) { return VF32(_mm512_div_ps(a.v, b.v)); }
REGCORE_HD VF32 vsqrt(VF32 a) { return VF32(_mm512_sqrt_ps(a.v)); }
REGCORE_HD VF32 vmin(VF32 a, VF32 b) { return VF32(_mm512_min_ps(b.v, a.v)); }  // b < a ? b : a
REGCORE_HD MF32 vgt(VF32 a, VF32 b) { return MF32{_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
REGCORE_HD MF32 vle(VF32 a, VF32 b) { return MF32{_mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ)}; }
REGCORE_HD VF32 vselect(MF32 m, VF32 a, VF32 b) { return VF32(_mm512_mask_blend_ps(m.m, b.v, a.v)); }
REGCORE_HD VU32 as_uint(VF32 a) { return VU32(_mm512_castps_si512(a.v)); }

// --- half-width 32-bit lanes (feed the float64 lanes)
REGCORE_HD VU32H operator^(VU32H a, VU32H b) { return VU32H(_mm256_xor_si256(a.v, b.v)); }
REGCORE_HD VU32H operator&(VU32H a, VU32H b) { return VU32H(_mm256_and_si256(a.v, b.v)); }
REGCORE_HD VU32H operator|(VU32H a, VU32H b) { return VU32H(_mm256_or_si256(a.v, b.v)); }
REGCORE_HD VU32H operator+(VU32H a, VU32H b) { return VU32H(_mm256_add_epi32(a.v, b.v)); }
REGCORE_HD VU32H operator-(VU32H a, VU32H b) { return VU32H(_mm256_sub_epi32(a.v, b.v)); }
REGCORE_HD VU32H operator>>(VU32H a, int s) { return VU32H(_mm256_srli_epi32(a.v, s)); }
REGCORE_HD VU32H operator<<(VU32H a, int s) { return VU32H(_mm256_slli_epi32(a.v, s)); }
REGCORE_HD VF64 to_f64(VU32H a) { return VF64(_mm512_cvtepi32_pd(a.v)); }
REGCORE_HD VU64 widen_u64(VU32H a) { return VU64(_mm512_cvtepu32_epi64(a.v)); }

// --- 64-bit lanes
REGCORE_HD VU64 operator^(VU64 a, VU64 b) { return VU64(_mm512_xor_si512(a.v, b.v)); }
// Philox in 64-bit lanes (kernels/philox_lanes.h): the 64-bit product of each lane's low word and
// m; the W lanes 2j <- even[j], 2j+1 <- odd[j] (low words).
REGCORE_HD VU64 mul_wide32(VU64 a, uint32_t m) { return VU64(_mm512_mul_epu32(a.v, _mm512_set1_epi64(m))); }
REGCORE_HD VU32 interleave_lo32(VU64 even, VU64 odd) {
  return VU32(_mm512_mask_shuffle_epi32(even.v, 0xAAAA, odd.v, _MM_PERM_CCAA));
}
REGCORE_HD VU64 operator&(VU64 a, VU64 b) { return VU64(_mm512_and_si512(a.v, b.v)); }
REGCORE_HD VU64 operator|(VU64 a, VU64 b) { return VU64(_mm512_or_si512(a.v, b.v)); }
REGCORE_HD VU64 operator+(VU64 a, VU64 b) { return VU64(_mm512_add_epi64(a.v, b.v)); }
REGCORE_HD VU64 operator-(VU64 a, VU64 b) { return VU64(_mm512_sub_epi64(a.v, b.v)); }
REGCORE_HD VU64 operator>>(VU64 a, int s) { return VU64(_mm512_srli_epi64(a.v, unsigned(s))); }
REGCORE_HD VU64 operator<<(VU64 a, int s) { return VU64(_mm512_slli_epi64(a.v, unsigned(s))); }
REGCORE_HD VF64 to_fp(VU64 a) { return VF64(_mm512_cvtepu64_pd(a.v)); }
REGCORE_HD VF64 as_float(VU64 a) { return VF64(_mm512_castsi512_pd(a.v)); }

// --- float64 lanes
REGCORE_HD VF64 operator+(VF64 a, VF64 b) { return VF64(_mm512_add_pd(a.v, b.v)); }
REGCORE_HD VF64 operator-(VF64 a, VF64 b) { return VF64(_mm512_sub_pd(a.v, b.v)); }
REGCORE_HD VF64 operator*(VF64 a, VF64 b) { return VF64(_mm512_mul_pd(a.v, b.v)); }
REGCORE_HD VF64 operator/(VF64 a, VF64 b) { return VF64(_mm512_div_pd(a.v, b.v)); }
REGCORE_HD VF64 vsqrt(VF64 a) { return VF64(_mm512_sqrt_pd(a.v)); }
REGCORE_HD VF64 vmin(VF64 a, VF64 b) { return VF64(_mm512_min_pd(b.v, a.v)); }
REGCORE_HD MF64 vgt(VF64 a, VF64 b) { return MF64{_mm512_cmp_pd_mask(a.v, b.v, _CMP_GT_OQ)}; }
REGCORE_HD MF64 vle(VF64 a, VF64 b) { return MF64{_mm512_cmp_pd_mask(a.v, b.v, _CMP_LE_OQ)}; }
REGCORE_HD VF64 vselect(MF64 m, VF64 a, VF64 b) { return VF64(_mm512_mask_blend_pd(m.m, b.v, a.v)); }
REGCORE_HD VU64 as_uint(VF64 a) { return VU64(_mm512_castpd_si512(a.v)); }

// --- stores in element order. Lane l of r[k] is element E*l + k.
REGCORE_HD void store_transposed4(float* out, const VF32 r[4]) {
  __m512 t0 = _mm512_unpacklo_ps(r[0].v, r[1].v), t1 = _mm512_unpackhi_ps(r[0].v, r[1].v);
  __m512 t2 = _mm512_unpacklo_ps(r[2].v, r[3].v), t3 = _mm512_unpackhi_ps(r[2].v, r[3].v);
  __m512 u0 = _mm512_shuffle_ps(t0, t2, 0x44), u1 = _mm512_shuffle_ps(t0, t2, 0xEE);
  __m512 u2 = _mm512_shuffle_ps(t1, t3, 0x44), u3 = _mm512_shuffle_ps(t1, t3, 0xEE);
  // each 128-bit lane j of u_k now holds elements 4(4j+k) .. 4(4j+k)+3: transpose the lanes.
  __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44), v1 = _mm512_shuffle_f32x4(u2, u3, 0x44);
  __m512 v2 = _mm512_shuffle_f32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
  _mm512_storeu_ps(out, _mm512_shuffle_f32x4(v0, v1, 0x88));
  _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(v0, v1, 0xDD));
  _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(v2, v3, 0x88));
  _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(v2, v3, 0xDD));
}
REGCORE_HD void store_transposed4(uint32_t* out, const VU32 r[4]) {
  VF32 f[4] = {as_float(r[0]), as_float(r[1]), as_float(r[2]), as_float(r[3])};
  store_transposed4(reinterpret_cast<float*>(out), f);
}
REGCORE_HD void store_interleaved2(double* out, const VF64 r[2]) {
  const __m512i lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  _mm512_storeu_pd(out, _mm512_permutex2var_pd(r[0].v, lo, r[1].v));
  _mm512_storeu_pd(out + 8, _mm512_permutex2var_pd(r[0].v, hi, r[1].v));
}
// r[i] lane l -> r[l] lane i (the 8x8 float64 transpose).
REGCORE_HD void transpose_f64(VF64 r[8]) {
  __m512d t[8], u[8];
  for (int i = 0; i < 8; i += 2) {   // t[i]: lanes 0, 2, 4, 6 of rows i, i+1 interleaved; t[i+1]: the odd lanes
    t[i] = _mm512_unpacklo_pd(r[i].v, r[i + 1].v);
    t[i + 1] = _mm512_unpackhi_pd(r[i].v, r[i + 1].v);
  }
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  // u[i + j]: lane j (low half) and lane j + 4 (high half) of rows i .. i + 3; lanes 0 and 2 come
  // from t[i], lanes 1 and 3 from t[i + 1]
  for (int i = 0; i < 8; i += 4)
    for (int p = 0; p < 2; ++p) {
      u[i + p] = _mm512_permutex2var_pd(t[i + p], lo, t[i + 2 + p]);
      u[i + 2 + p] = _mm512_permutex2var_pd(t[i + p], hi, t[i + 2 + p]);
    }
  for (int j = 0; j < 4; ++j) {   // rows 0..3 and 4..7 of lane j, then of lane j + 4
    r[j] = VF64(_mm512_shuffle_f64x2(u[j], u[4 + j], 0x44));
    r[j + 4] = VF64(_mm512_shuffle_f64x2(u[j], u[4 + j], 0xEE));
  }
}


// ---- init family: float32 lanes as wide as VF64 (results of E = 2 draws in float32), clamps.
struct VF32H {
  __m256 v;
  VF32H() = default;
  explicit VF32H(__m256 x) : v(x) {}
  VF32H(float c) : v(_mm256_set1_ps(c)) {}
};
template <> struct f64_lanes<VF32H> { using type = VF64; };
template <> struct f64_lanes<VF64> { using type = VF64; };
REGCORE_HD VF32H narrow_to(VF64 x, VF32H) { return VF32H(_mm512_cvtpd_ps(x.v)); }
REGCORE_HD VF64 narrow_to(VF64 x, VF64) { return x; }
REGCORE_HD bool vany(MF64 m) { return m.m != 0; }
REGCORE_HD VF32H vmin(VF32H a, VF32H b) { return VF32H(_mm256_min_ps(b.v, a.v)); }
REGCORE_HD VF32H vmax(VF32H a, VF32H b) { return VF32H(_mm256_max_ps(b.v, a.v)); }  // b > a ? b : a
REGCORE_HD VF32 vmax(VF32 a, VF32 b) { return VF32(_mm512_max_ps(b.v, a.v)); }
REGCORE_HD VF64 vmax(VF64 a, VF64 b) { return VF64(_mm512_max_pd(b.v, a.v)); }
REGCORE_HD void store_interleaved2(float* out, const VF32H r[2]) {
  __m256 lo = _mm256_unpacklo_ps(r[0].v, r[1].v), hi = _mm256_unpackhi_ps(r[0].v, r[1].v);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}
REGCORE_CORE_END

// ---- batchnorm family: unaligned loads/stores and float32 -> float64 widening (the statistics
// of float32 data accumulate in float64 lanes).
REGCORE_CORE_BEGIN
REGCORE_HD VF32 vload(const float* p) { return VF32(_mm512_loadu_ps(p)); }
REGCORE_HD VF64 vload(const double* p) { return VF64(_mm512_loadu_pd(p)); }
REGCORE_HD void vstore(float* p, VF32 a) { _mm512_storeu_ps(p, a.v); }
REGCORE_HD void vstore(double* p, VF64 a) { _mm512_storeu_pd(p, a.v); }
REGCORE_HD VF64 widen_lo(VF32 a) { return VF64(_mm512_cvtps_pd(_mm512_castps512_ps256(a.v))); }
REGCORE_HD VF64 widen_hi(VF32 a) { return VF64(_mm512_cvtps_pd(_mm512_extractf32x8_ps(a.v, 1))); }
// a + b and a - b as the fused a*1 + b and a*1 - b: a*1 is exact, so these round the exact sum
// once, the same bits as operator+ / operator- (zero signs included; only which NaN operand a
// NaN result carries may differ, which is not promised). They run on the multiply pipes: on AMD
// Zen 4 the float32 -> float64 conversions share the two add pipes with every add, so the
// widening kernels move part of their adds over (the statistics pass ran 20% faster).
REGCORE_HD VF64 vadd_fma(VF64 a, VF64 b) { return VF64(_mm512_fmadd_pd(a.v, _mm512_set1_pd(1.0), b.v)); }
REGCORE_HD VF64 vsub_fma(VF64 a, VF64 b) { return VF64(_mm512_fmsub_pd(a.v, _mm512_set1_pd(1.0), b.v)); }
// a*b + c with one rounding, ONLY for products exact in float64: widened float32 or 16-bit
// values (at most 24 + 24 = 48 significant bits, and no product of them leaves float64's normal
// range). Then a*b needs no rounding and this rounds the exact sum once: the same bits as
// a * b + c, in one multiply-pipe instruction instead of a multiply and an add (the backward
// sums, which widen two values and add two products per element, were bound by those pipes).
REGCORE_HD VF64 vmuladd_exact(VF64 a, VF64 b, VF64 c) { return VF64(_mm512_fmadd_pd(a.v, b.v, c.v)); }
// Half a float32 vector (W/2 lanes, as many as VF64): loads and arithmetic, widened without the
// extract that widen_hi needs.
REGCORE_HD VF32H vload_h(const float* p) { return VF32H(_mm256_loadu_ps(p)); }
REGCORE_HD VF32H operator+(VF32H a, VF32H b) { return VF32H(_mm256_add_ps(a.v, b.v)); }
REGCORE_HD VF32H operator-(VF32H a, VF32H b) { return VF32H(_mm256_sub_ps(a.v, b.v)); }
// a - b as a*1 - b on the multiply pipes (vsub_fma above: the same bits).
REGCORE_HD VF32H vsub_fma(VF32H a, VF32H b) { return VF32H(_mm256_fmsub_ps(a.v, _mm256_set1_ps(1.0f), b.v)); }
REGCORE_HD VF32H operator*(VF32H a, VF32H b) { return VF32H(_mm256_mul_ps(a.v, b.v)); }
REGCORE_HD VF64 widen(VF32H a) { return VF64(_mm512_cvtps_pd(a.v)); }
REGCORE_CORE_END

// ---- dropout family: loads/stores, keep-bit masks, the in-register 4xW transpose.
REGCORE_CORE_BEGIN
// Lanes whose bit is clear become +0 (a zero-masked move: inf/NaN there vanish too).
REGCORE_HD VF32 vkeep(uint32_t bits, VF32 a) { return VF32(_mm512_maskz_mov_ps(__mmask16(bits), a.v)); }
REGCORE_HD VF64 vkeep(uint32_t bits, VF64 a) { return VF64(_mm512_maskz_mov_pd(__mmask8(bits), a.v)); }
REGCORE_HD uint32_t ge_bits(VU32 w, uint32_t t) {
  return uint32_t(_mm512_cmpge_epu32_mask(w.v, _mm512_set1_epi32(int(t))));
}
// in[k] lane l holds element 4l + k; out[j] lane l holds element jW + l (see store_transposed4).
REGCORE_HD void transpose4(const VU32 in[4], VU32 out[4]) {
  __m512 r0 = _mm512_castsi512_ps(in[0].v), r1 = _mm512_castsi512_ps(in[1].v);
  __m512 r2 = _mm512_castsi512_ps(in[2].v), r3 = _mm512_castsi512_ps(in[3].v);
  __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpackhi_ps(r0, r1);
  __m512 t2 = _mm512_unpacklo_ps(r2, r3), t3 = _mm512_unpackhi_ps(r2, r3);
  __m512 u0 = _mm512_shuffle_ps(t0, t2, 0x44), u1 = _mm512_shuffle_ps(t0, t2, 0xEE);
  __m512 u2 = _mm512_shuffle_ps(t1, t3, 0x44), u3 = _mm512_shuffle_ps(t1, t3, 0xEE);
  __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44), v1 = _mm512_shuffle_f32x4(u2, u3, 0x44);
  __m512 v2 = _mm512_shuffle_f32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
  out[0] = VU32(_mm512_castps_si512(_mm512_shuffle_f32x4(v0, v1, 0x88)));
  out[1] = VU32(_mm512_castps_si512(_mm512_shuffle_f32x4(v0, v1, 0xDD)));
  out[2] = VU32(_mm512_castps_si512(_mm512_shuffle_f32x4(v2, v3, 0x88)));
  out[3] = VU32(_mm512_castps_si512(_mm512_shuffle_f32x4(v2, v3, 0xDD)));
}
REGCORE_HD uint32_t bytes_to_word(const uint8_t* b) {
  __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  return uint32_t(_mm256_test_epi8_mask(v, v));
}
REGCORE_HD void word_to_bytes(uint32_t w, uint8_t* b) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b), _mm256_maskz_set1_epi8(__mmask32(w), 1));
}
REGCORE_CORE_END

// ---- sgd family: float32 -> float64 widening loads (vload/vstore come from the block above).
REGCORE_CORE_BEGIN
// W/2 consecutive values as float64 lanes (exact).
REGCORE_HD VF64 vload_f64(const float* p) { return VF64(_mm512_cvtps_pd(_mm256_loadu_ps(p))); }
REGCORE_HD VF64 vload_f64(const double* p) { return VF64(_mm512_loadu_pd(p)); }
REGCORE_HD void vstore_f64(double* p, VF64 x) { _mm512_storeu_pd(p, x.v); }
REGCORE_CORE_END

// ---- dropout family (round 2): whether any float32 lane of a compare is set.
REGCORE_CORE_BEGIN
REGCORE_HD bool vany(MF32 m) { return m.m != 0; }
REGCORE_CORE_END

// ---- batchnorm family: non-temporal stores (p aligned to 64 bytes) and the fence after them.
REGCORE_CORE_BEGIN
REGCORE_HD void vstream(float* p, VF32 a) { _mm512_stream_ps(p, a.v); }
REGCORE_HD void vstream(double* p, VF64 a) { _mm512_stream_pd(p, a.v); }
REGCORE_HD void vstream_fence() { _mm_sfence(); }
REGCORE_CORE_END

// ---- 16-bit storage (core/half.h): W elements <-> float32 lanes, the same bits as the scalar
// conversions (checked over every 16-bit pattern). float16 uses the AVX-512F conversions (as the
// AVX2 level's F16C: exact one way, nearest-even with subnormals kept the other); bfloat16 uses
// integer shifts. AVX512_BF16's conversion reads a subnormal float32 as zero, which the scalar
// path does not: it is used only by vstore2_ne below, on pairs without a subnormal lane.
#include "../../core/half.h"
REGCORE_CORE_BEGIN
REGCORE_HD VF32 vload(const bfloat16_t* p) {
  __m512i u = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  u = _mm512_mask_or_epi32(u, nan, u, _mm512_set1_epi32(0x00400000));
  return VF32(_mm512_castsi512_ps(u));
}
// Round to nearest even WITHOUT the final shift: the bfloat16 result is the upper 16 bits of
// each lane (f32_to_bf16's formula, u + 0x7FFF + the kept part's lowest bit, the bit tested into
// a mask and added under it; a NaN lane becomes u with the quiet bit set, whose upper half is
// f32_to_bf16's quiet NaN). One float compare finds the NaN lanes, and the caller picks the upper
// halves with one shuffle: the shift, the integer NaN test and the 2-uop narrowing move this
// replaces made the store cost more than the arithmetic feeding it.
REGCORE_HD __m512i bf16_round_hi(VF32 a) {
  const __m512i u = _mm512_castps_si512(a.v);
  const __m512i b = _mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF));
  const __m512i r = _mm512_mask_add_epi32(b, _mm512_test_epi32_mask(u, _mm512_set1_epi32(0x10000)), b, _mm512_set1_epi32(1));
  return _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q), u, _mm512_set1_epi32(0x00400000));
}
REGCORE_HD void vstore(bfloat16_t* p, VF32 a) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(_mm512_srli_epi32(bf16_round_hi(a), 16)));
}
// The upper 16 bits of every 32-bit lane of a, then of b, in lane order: one word shuffle (the
// bfloat16 pair stores keep each rounded value in the upper half of its lane).
REGCORE_HD __m512i upper_halves2(__m512i a, __m512i b) {
  const __m512i idx = _mm512_setr_epi32(0x00030001, 0x00070005, 0x000B0009, 0x000F000D, 0x00130011, 0x00170015,
                                        0x001B0019, 0x001F001D, 0x00230021, 0x00270025, 0x002B0029, 0x002F002D,
                                        0x00330031, 0x00370035, 0x003B0039, 0x003F003D);
  return _mm512_permutex2var_epi16(a, idx, b);
}
// 2W consecutive elements from two vectors: one word shuffle takes the upper halves of both.
// pack2 makes the line vstore2 writes (and vstream2, the non-temporal store of it).
REGCORE_HD __m512i pack2(const bfloat16_t*, VF32 a, VF32 b) { return upper_halves2(bf16_round_hi(a), bf16_round_hi(b)); }
REGCORE_HD void vstore2(bfloat16_t* p, VF32 a, VF32 b) { _mm512_storeu_si512(p, pack2(p, a, b)); }
// bfloat16 -> float32 without quieting a signalling NaN: only for values that go through float
// arithmetic (or a float64 widening) before anything is stored, which quiets a signalling NaN
// with its payload kept, exactly as the quieting load would have: the results are the same bits
// as with vload (the normalization kernels; elem_load stays the scalar reference). One zeroing
// word shuffle puts element j in the upper half of lane j (the lower halves stay zero).
REGCORE_HD VF32 vload_arith(const bfloat16_t* p) {
  const __m512i idx = _mm512_setr_epi32(0x00000000, 0x00010000, 0x00020000, 0x00030000, 0x00040000, 0x00050000,
                                        0x00060000, 0x00070000, 0x00080000, 0x00090000, 0x000A0000, 0x000B0000,
                                        0x000C0000, 0x000D0000, 0x000E0000, 0x000F0000);
  const __m512i v = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return VF32(_mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(__mmask32(0xAAAAAAAAu), idx, v)));
}
// W 16-bit values as float64 lanes (elements 0 .. W/2-1 in lo, the rest in hi), exactly: the
// statistics' widening, with vload_arith's values (the float64 conversion quiets a signalling
// NaN as the float arithmetic after vload_arith does). bfloat16: each half is a 128-bit
// broadcast load (no shuffle uop) and one in-lane byte shuffle that puts value j in the upper
// half of float32 lane j; vload_arith's word permute plus the extract of the upper half cost
// three shuffle-port uops per vector, this two (statistics pass -7% measured).
REGCORE_HD void vload_wide(const bfloat16_t* p, VF64& lo, VF64& hi) {
  const __m256i idx = _mm256_setr_epi8(-128, -128, 0, 1, -128, -128, 2, 3, -128, -128, 4, 5, -128, -128, 6, 7,
                                       -128, -128, 8, 9, -128, -128, 10, 11, -128, -128, 12, 13, -128, -128, 14, 15);
  const auto half = [&](const bfloat16_t* q) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    return VF64(_mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_shuffle_epi8(b, idx))));
  };
  lo = half(p);
  hi = half(p + REGCORE_SIMD_W / 2);
}
// W/2 16-bit values as a half float32 vector, with vload_arith's contract (a signalling NaN is
// quieted by the arithmetic or widening that follows). bfloat16: vload_wide's broadcast load and
// byte shuffle, one uop.
REGCORE_HD VF32H vload_h(const bfloat16_t* p) {
  const __m256i idx = _mm256_setr_epi8(-128, -128, 0, 1, -128, -128, 2, 3, -128, -128, 4, 5, -128, -128, 6, 7,
                                       -128, -128, 8, 9, -128, -128, 10, 11, -128, -128, 12, 13, -128, -128, 14, 15);
  const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return VF32H(_mm256_castsi256_ps(_mm256_shuffle_epi8(b, idx)));
}
// The same pair store with AVX512_BF16, an extension the avx512 level does not require: callable
// only from code compiled for that target (a GCC target region: batchnorm.cpp) and
// only when cpu::avx512_bf16_active() (dispatch.h). VCVTNE2PS2BF16 rounds to nearest even and quiets a NaN
// into (u >> 16) | 0x40, bf16_round_hi's bits, except that it reads a float32 SUBNORMAL as zero
// (it ignores MXCSR). So a pair holding any subnormal lane takes vstore2 (one class test per
// vector, a rare well-predicted branch): the bits are vstore2's on every input. One conversion
// replaces bf16_round_hi twice (five operations each) and the word shuffle.
#define REGCORE_HAVE_BF16_NE 1
// NT: a non-temporal store (p aligned to 64 bytes): the whole line is one vector here, so large
// 16-bit outputs skip the read-for-ownership as float32 ones do.
template <bool NT>
__attribute__((target("avx512bf16"))) REGCORE_HD void vstore2_ne(bfloat16_t* p, VF32 a, VF32 b) {
  constexpr int kSubnormal = 0x20;  // VFPCLASSPS category: denormal
  if (__builtin_expect(_kortestz_mask16_u8(_mm512_fpclass_ps_mask(a.v, kSubnormal),
                                           _mm512_fpclass_ps_mask(b.v, kSubnormal)) == 0, 0)) {
    vstore2(p, a, b);
    return;
  }
  const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(b.v, a.v);  // a: elements 0..W-1
  if (NT) _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
  else _mm512_storeu_si512(p, v);
}
REGCORE_HD VF32 vload(const float16_t* p) {
  return VF32(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
}
REGCORE_HD void vstore(float16_t* p, VF32 a) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(a.v, _MM_FROUND_TO_NEAREST_INT));
}
REGCORE_HD __m512i pack2(const float16_t*, VF32 a, VF32 b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtps_ph(a.v, _MM_FROUND_TO_NEAREST_INT)),
                            _mm512_cvtps_ph(b.v, _MM_FROUND_TO_NEAREST_INT), 1);
}
REGCORE_HD void vstore2(float16_t* p, VF32 a, VF32 b) { _mm512_storeu_si512(p, pack2(p, a, b)); }
// vstore2's line with a non-temporal store (p aligned to a vector, 64 bytes: a whole line, so a
// 16-bit output streams as a float32 one does; the same bits as vstore2).
template <class S> REGCORE_HD void vstream2(S* p, VF32 a, VF32 b) {
  _mm512_stream_si512(reinterpret_cast<__m512i*>(p), pack2(p, a, b));
}
REGCORE_HD VF32 vload_arith(const float16_t* p) { return vload(p); }
REGCORE_HD VF32H vload_h(const float16_t* p) {
  return VF32H(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
REGCORE_HD void vload_wide(const float16_t* p, VF64& lo, VF64& hi) {
  const VF32 v = vload(p);
  lo = widen_lo(v);
  hi = widen_hi(v);
}
REGCORE_HD VF32 vload_arith(const float* p) { return vload(p); }
REGCORE_HD VF64 vload_arith(const double* p) { return vload(p); }
REGCORE_HD void vstore2(float* p, VF32 a, VF32 b) { vstore(p, a); vstore(p + REGCORE_SIMD_W, b); }
REGCORE_HD void vstore2(double* p, VF64 a, VF64 b) { vstore(p, a); vstore(p + REGCORE_SIMD_W / 2, b); }
REGCORE_CORE_END

// ---- stream-bound 16-bit kernels (dropout, random fills): the bfloat16 pair store with ONE NaN
// test for both vectors. Lanes without NaN round as f32_to_bf16 does (u + 0x7FFF + the kept part's
// lowest bit; the upper halves are the result) with shifts and adds only; a pair holding a NaN
// (rare, a well-predicted branch) takes vstore2: the same bits either way. bf16_round_hi's mask
// tests and merges cost these kernels a third of their time next to Philox, whose dependency
// chains leave them few spare slots.
REGCORE_CORE_BEGIN
REGCORE_HD __m512i bf16_round_hi_finite(VF32 a) {
  const __m512i u = _mm512_castps_si512(a.v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), odd);
}
REGCORE_HD void vstore2_nan_tested(bfloat16_t* p, VF32 a, VF32 b) {
  if (__builtin_expect(_mm512_cmp_ps_mask(a.v, b.v, _CMP_UNORD_Q) != 0, 0)) {
    vstore2(p, a, b);
    return;
  }
  _mm512_storeu_si512(p, upper_halves2(bf16_round_hi_finite(a), bf16_round_hi_finite(b)));
}
REGCORE_CORE_END

// ---- random fills of bfloat16 (kernels/stream_generate.h): 4W elements whose element 4l + k is
// lane l of r[k], rounded and stored in element order. The rounded upper halves of r[0] and r[1]
// are interleaved word by word (lane l -> elements 4l, 4l+1), likewise r[2] and r[3], and one
// dword interleave of the two puts each pair of pairs in place: four shuffles, where transpose4
// and the pair stores take fourteen. A NaN anywhere (a NaN mean or std) takes the pair stores.
#define REGCORE_HAVE_BF16_TRANSPOSED4 1
REGCORE_CORE_BEGIN
REGCORE_HD void store_transposed4(bfloat16_t* out, const VF32 r[4]) {
  if (__builtin_expect((_mm512_cmp_ps_mask(r[0].v, r[1].v, _CMP_UNORD_Q) |
                        _mm512_cmp_ps_mask(r[2].v, r[3].v, _CMP_UNORD_Q)) != 0, 0)) {
    const VU32 in[4] = {as_uint(r[0]), as_uint(r[1]), as_uint(r[2]), as_uint(r[3])};
    VU32 e[4];
    transpose4(in, e);
    vstore2(out, as_float(e[0]), as_float(e[1]));
    vstore2(out + 2 * REGCORE_SIMD_W, as_float(e[2]), as_float(e[3]));
    return;
  }
  // word 2l <- upper half of lane l of the first source (word 2l + 1), word 2l + 1 <- that of
  // the second (word 32 + 2l + 1)
  const __m512i words = _mm512_setr_epi32(0x00210001, 0x00230003, 0x00250005, 0x00270007, 0x00290009, 0x002B000B,
                                          0x002D000D, 0x002F000F, 0x00310011, 0x00330013, 0x00350015, 0x00370017,
                                          0x00390019, 0x003B001B, 0x003D001D, 0x003F001F);
  const __m512i t01 = _mm512_permutex2var_epi16(bf16_round_hi_finite(r[0]), words, bf16_round_hi_finite(r[1]));
  const __m512i t23 = _mm512_permutex2var_epi16(bf16_round_hi_finite(r[2]), words, bf16_round_hi_finite(r[3]));
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  _mm512_storeu_si512(out, _mm512_permutex2var_epi32(t01, lo, t23));
  _mm512_storeu_si512(out + 2 * REGCORE_SIMD_W, _mm512_permutex2var_epi32(t01, hi, t23));
}
REGCORE_CORE_END

// ---- stochastic rounding (kernels/sgd.cpp). The roundings read the top 16 bits of each word
// (core/stochastic_round.h, the *_top forms), so the words travel as those halves, one per 32-bit
// lane. words_top16: the halves of 4W Philox words whose element 4l + k is lane l of in[k], in
// element order (out[j] lane l: element jW + l). Two word shuffles pair elements 4l, 4l + 1 and
// 4l + 2, 4l + 3 in lane l (store_transposed4's first step), and one zeroing word shuffle per
// output picks its 16 halves from the pairs: six shuffles and no shift, where transpose4 and the
// shifts take sixteen operations.
REGCORE_CORE_BEGIN
REGCORE_HD void words_top16(const VU32 in[4], VU32 out[4]) {
  const __m512i pairs = _mm512_setr_epi32(0x00210001, 0x00230003, 0x00250005, 0x00270007, 0x00290009, 0x002B000B,
                                          0x002D000D, 0x002F000F, 0x00310011, 0x00330013, 0x00350015, 0x00370017,
                                          0x00390019, 0x003B001B, 0x003D001D, 0x003F001F);
  const __m512i t01 = _mm512_permutex2var_epi16(in[0].v, pairs, in[1].v);
  const __m512i t23 = _mm512_permutex2var_epi16(in[2].v, pairs, in[3].v);
  // lane m of out[j]: element 16j + m, block l = 4j + m/4, word k = m%4: half 2l + (k & 1) of
  // t01 (k < 2) or of t23 (index + 32); the upper halves are zeroed (mask 0x55555555).
  const __m512i idx[4] = {
      _mm512_setr_epi32(0, 1, 32, 33, 2, 3, 34, 35, 4, 5, 36, 37, 6, 7, 38, 39),
      _mm512_setr_epi32(8, 9, 40, 41, 10, 11, 42, 43, 12, 13, 44, 45, 14, 15, 46, 47),
      _mm512_setr_epi32(16, 17, 48, 49, 18, 19, 50, 51, 20, 21, 52, 53, 22, 23, 54, 55),
      _mm512_setr_epi32(24, 25, 56, 57, 26, 27, 58, 59, 28, 29, 60, 61, 30, 31, 62, 63)};
  for (int j = 0; j < 4; ++j) out[j] = VU32(_mm512_maskz_permutex2var_epi16(__mmask32(0x55555555u), t01, idx[j], t23));
}
// bfloat16: the bits of vstore(p, sr_format<bfloat16_t>::round_top(x, r16)) in one pass. Off NaN,
// sr_bf16 clears the low 16 bits of u + r16, which the nearest-even store then keeps unchanged
// (nothing to round), so the stored half is just the upper half of u + r16 (a carry into the
// exponent included: inf from the largest finite values; inf itself has zero low bits and stays
// inf). A NaN keeps x and the store quiets it: the upper half of u | 0x00400000. The upper
// halves of the two vectors' sums are picked by one word shuffle (vstore2's).
REGCORE_HD __m512i sr_bf16_sum(VF32 x, VU32 r16) {
  const __m512i u = _mm512_castps_si512(x.v);
  const __mmask16 num = _mm512_cmp_ps_mask(x.v, x.v, _CMP_ORD_Q);
  return _mm512_mask_add_epi32(_mm512_or_si512(u, _mm512_set1_epi32(0x00400000)), num, u, r16.v);
}
REGCORE_HD void vstore_sr(bfloat16_t* p, VF32 x, VU32 r16) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(_mm512_srli_epi32(sr_bf16_sum(x, r16), 16)));
}
REGCORE_HD void vstore2_sr(bfloat16_t* p, VF32 a, VF32 b, VU32 ra, VU32 rb) {
  _mm512_storeu_si512(p, upper_halves2(sr_bf16_sum(a, ra), sr_bf16_sum(b, rb)));
}
REGCORE_CORE_END
