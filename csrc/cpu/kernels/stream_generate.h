// Drives a random transform (core/random_transforms.h) over elements [begin, end) of a call:
// W counter blocks at a time in SIMD lanes, single blocks at the edges. Included only by per-ISA
// kernel translation units. Element i always reads block offset + i/E, so the output does not
// depend on where the caller cut [begin, end) or on the SIMD width.
#pragma once
#include <type_traits>

#include "../../core/random_transforms.h"
#include "../simd/vec.h"
#include "pair_store.h"
#include "philox_lanes.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {

#if REGCORE_SIMD_W > 1
template <class T> struct vec_of;
template <> struct vec_of<float> { using type = VF32; };
template <> struct vec_of<uint32_t> { using type = VU32; };
template <> struct vec_of<double> { using type = VF64; };
// Output lanes of an E = 2 draw: one per block of a half-width group (W/2 lanes).
template <class T> struct half_vec_of;
template <> struct half_vec_of<float> { using type = VF32H; };
template <> struct half_vec_of<double> { using type = VF64; };
#endif

#if REGCORE_SIMD_W > 1
// The elements of the W blocks from blk, from their words (lane l of x[k]: word k of block
// blk + l), into out[blk * E - base ...]. Always inlined: stream_generate needs two copies in one
// stretch of code (see there).
template <class Tr, class S>
REGCORE_HD void transform_store(S* out, int64_t blk, int64_t base, const Tr& tr, const VU32 x[4]) {
  using T = typename Tr::out_t;
  constexpr int64_t E = Tr::E;
  constexpr int64_t W = REGCORE_SIMD_W;
  if constexpr (E == 4) {
    typename vec_of<T>::type r[4];
    tr.apply(x, r);
    if constexpr (std::is_same<S, T>::value) {
      store_transposed4(out + (blk * E - base), r);
#if defined(REGCORE_HAVE_BF16_TRANSPOSED4)
    } else if constexpr (std::is_same<S, bfloat16_t>::value) {  // rounded and reordered at once (cpu/simd)
      store_transposed4(out + (blk * E - base), r);
#endif
    } else {  // 16-bit storage: element order in registers, then two rounding pair stores
      // (a float32 buffer in between cost a store and a reload per vector, and the pair stores
      // narrow two vectors with one shuffle)
      const VU32 in[4] = {as_uint(r[0]), as_uint(r[1]), as_uint(r[2]), as_uint(r[3])};
      VU32 e[4];
      transpose4(in, e);
      pair_store(out + (blk * E - base), as_float(e[0]), as_float(e[1]));
      pair_store(out + (blk * E - base + 2 * W), as_float(e[2]), as_float(e[3]));
    }
  } else {
    const VU32H wl[4] = {lo_half(x[0]), lo_half(x[1]), lo_half(x[2]), lo_half(x[3])};
    const VU32H wh[4] = {hi_half(x[0]), hi_half(x[1]), hi_half(x[2]), hi_half(x[3])};
    typename half_vec_of<T>::type rl[2], rh[2];
    tr.apply(wl, rl);
    tr.apply(wh, rh);
    if constexpr (std::is_same<S, T>::value) {
      store_interleaved2(out + (blk * E - base), rl);
      store_interleaved2(out + (blk * E - base + W), rh);
    } else {  // 16-bit storage (trunc_normal draws in float32 with E = 2): as above
      alignas(64) T tmp[2 * W];
      store_interleaved2(tmp, rl);
      store_interleaved2(tmp + W, rh);
      vstore(out + (blk * E - base), vload(tmp));
      vstore(out + (blk * E - base + W), vload(tmp + W));
    }
  }
}
#endif

// S: the storage type of out; the transform computes in Tr::out_t (float32 for a 16-bit S, whose
// values are then rounded as they are stored: the 16-bit draw is the float32 draw, rounded).
// out[i - base] receives element i (base = begin when out is a buffer of just [begin, end)).
template <class Tr, class S>
void stream_generate(S* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset, const Tr& tr,
                     int64_t base = 0) {
  using T = typename Tr::out_t;
  constexpr int64_t E = Tr::E;
  const StreamKey key = stream_key(seed);
  // One block on the scalar path, writing only the elements of [begin, end) it covers.
  auto one_block = [&](int64_t blk) {
    uint32_t w[4];
    stream_block(key, offset + uint64_t(blk), w);
    T r[E];
    tr.apply(w, r);
    const int64_t first = blk * E;
    for (int64_t k = 0; k < E; ++k) {
      const int64_t i = first + k;
      if (i >= begin && i < end) store_as(out + (i - base), r[k]);
    }
  };
  if (begin >= end) return;
  int64_t blk = begin / E;
  const int64_t blk_end = (end + E - 1) / E;
  if (begin % E != 0) one_block(blk++);
#if REGCORE_SIMD_W > 1
  constexpr int64_t W = REGCORE_SIMD_W;
  // W blocks from blk, all of whose elements lie inside [begin, end).
  auto group = [&](int64_t blk) {
    const uint64_t b0 = offset + uint64_t(blk);
    if (uint32_t(b0) > 0xFFFFFFFFu - uint32_t(W - 1)) {  // low counter word wraps inside the group
      for (int64_t j = 0; j < W; ++j) one_block(blk + j);
      return;
    }
    VU32 x[4];
    philox_lanes(b0, key, x);
    transform_store<Tr>(out, blk, base, tr, x);
  };
  // Two groups at a time, in one branch-free stretch of code: their dependency chains (ten
  // Philox rounds; a normal's log, division, square root and polynomials) are independent, and
  // one group's ~400 instructions fill the reorder window, so the core overlaps two groups only
  // when the compiler interleaves them (float32 normals ~10% faster at AVX-512, ~19% at AVX2 on
  // Zen 4). Same operations per lane, so the same bits.
  for (; blk + 2 * W <= end / E; blk += 2 * W) {
    const uint64_t b0 = offset + uint64_t(blk);
    if (uint32_t(b0) > 0xFFFFFFFFu - uint32_t(2 * W - 1)) {
      group(blk);
      group(blk + W);
      continue;
    }
    VU32 x[4], y[4];
    philox_lanes(b0, key, x);
    philox_lanes(b0 + uint64_t(W), key, y);
    transform_store<Tr>(out, blk, base, tr, x);
    transform_store<Tr>(out, blk + W, base, tr, y);
  }
  if (blk + W <= end / E) {
    group(blk);
    blk += W;
  }
#endif
  for (; blk < blk_end; ++blk) one_block(blk);
}

}  // namespace isa_kernels
REGCORE_CORE_END
