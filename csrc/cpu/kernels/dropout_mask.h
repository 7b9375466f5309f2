// Keep words (core/dropout.h) for the per-ISA dropout kernels: where a word comes from (drawn
// from the stream, read from a bit mask, read from a byte mask) and how it drives the data.
// Included only by per-ISA kernel translation units.
//
// SIMD: one Philox call in W lanes computes W consecutive counter blocks = 4W elements = W/8
// keep words. Lane l of output word k is element 4l + k; transpose4 puts the words in element
// order so that ge_bits (a compare and movemask) yields bits in element order directly.
#pragma once
#include "../../core/dropout.h"
#include "../dropout_table.h"
#include "../simd/vec.h"
#include "pair_store.h"
#include "philox_lanes.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {

// body(i0, word) for each keep word covering [begin, end) (begin a multiple of 32), in order.
template <class Body>
REGCORE_HD void for_each_drawn_word(int64_t begin, int64_t end, const cpu::DropoutRule& r, Body&& body) {
  const int64_t q1 = (end + 31) / 32;
  int64_t q = begin / 32;
  if (r.drop_all || r.threshold == 0) {  // p = 1 or p = 0: the rule decides without drawing
    const uint32_t w = r.drop_all ? 0u : 0xFFFFFFFFu;
    for (; q < q1; ++q) body(32 * q, w);
    return;
  }
  const StreamKey key = stream_key(r.seed);
  const uint32_t t = r.threshold;
#if REGCORE_SIMD_W > 1
  constexpr int W = REGCORE_SIMD_W;
  constexpr int64_t WORDS = W / 8;  // keep words per Philox call in lanes
  const auto words_of = [&](const VU32 in[4], int64_t q0) {
    VU32 e[4];
    transpose4(in, e);
    uint64_t bits = 0;
    for (int j = 0; j < 4; ++j) bits |= uint64_t(ge_bits(e[j], t)) << (j * W);
    for (int64_t j = 0; j < WORDS; ++j) body(32 * (q0 + j), uint32_t(bits >> (32 * j)));
  };
  // Two Philox groups per step, both drawn before either is used (as stream_generate does): each
  // group's ten rounds are one long dependency chain, and the core overlaps two chains only when
  // they sit in one stretch of code; the keep words and their order are unchanged. (Measured at
  // AVX-512, 64K elements, one thread: float32 dropout 32.4 -> 30.0 us, bfloat16 40 -> 34 us.)
  for (; q + 2 * WORDS <= q1; q += 2 * WORDS) {
    const uint64_t b0 = r.offset + 8 * uint64_t(q);
    if (uint32_t(b0) > 0xFFFFFFFFu - uint32_t(2 * W - 1)) break;  // a wrap ahead: one group at a time
    VU32 x[4], y[4];
    philox_lanes(b0, key, x);
    philox_lanes(b0 + uint64_t(W), key, y);
    words_of(x, q);
    words_of(y, q + WORDS);
  }
  for (; q + WORDS <= q1; q += WORDS) {
    const uint64_t b0 = r.offset + 8 * uint64_t(q);
    if (uint32_t(b0) > 0xFFFFFFFFu - uint32_t(W - 1)) {  // low counter word wraps in the group
      for (int64_t j = 0; j < WORDS; ++j) body(32 * (q + j), keep_word(key, r.offset, uint64_t(q + j), t, 0u));
      continue;
    }
    VU32 in[4];
    philox_lanes(b0, key, in);
    words_of(in, q);
  }
#endif
  for (; q < q1; ++q) body(32 * q, keep_word(key, r.offset, uint64_t(q), t, 0u));
}

// Elements of word starting at i0 that lie before end (32 except in the last word).
REGCORE_HD int word_count(int64_t i0, int64_t end) { return end - i0 < 32 ? int(end - i0) : 32; }

// body(i0, word) with the word from bits, else bytes, else the stream.
template <class Body>
REGCORE_HD void for_each_mask_word(int64_t begin, int64_t end, const uint32_t* bits,
                                   const uint8_t* bytes, const cpu::DropoutRule& r, Body&& body) {
  const int64_t q1 = (end + 31) / 32;
  if (bits) {
    for (int64_t q = begin / 32; q < q1; ++q) body(32 * q, bits[q]);
  } else if (bytes) {
    for (int64_t q = begin / 32; q < q1; ++q) {
      const int64_t i0 = 32 * q;
      const int cnt = word_count(i0, end);
      uint32_t w = 0;
      if (cnt == 32) {
        w = bytes_to_word(bytes + i0);
      } else {
        for (int k = 0; k < cnt; ++k) w |= uint32_t(bytes[i0 + k] != 0) << k;
      }
      body(i0, w);
    }
  } else {
    for_each_drawn_word(begin, end, r, body);
  }
}

// Store the word of elements [i0, i0+cnt) into whichever mask the caller asked for; the pad
// bits past the last element are zero.
REGCORE_HD void store_mask_word(uint32_t* bits, uint8_t* bytes, int64_t i0, int cnt, uint32_t w) {
  if (cnt < 32) w &= (1u << cnt) - 1u;
  if (bits) bits[i0 / 32] = w;
  if (bytes) {
    if (cnt == 32) {
      word_to_bytes(w, bytes + i0);
    } else {
      for (int k = 0; k < cnt; ++k) bytes[i0 + k] = uint8_t((w >> k) & 1u);
    }
  }
}

#if REGCORE_SIMD_W > 1
// The compute lanes of storage type S: float32 lanes for the 16-bit formats too (vload / vstore
// convert, cpu/simd), W of them.
template <class S> struct fvec;
template <> struct fvec<float> { using type = VF32; static constexpr int L = REGCORE_SIMD_W; };
template <> struct fvec<double> { using type = VF64; static constexpr int L = REGCORE_SIMD_W / 2; };
template <> struct fvec<bfloat16_t> : fvec<float> {};
template <> struct fvec<float16_t> : fvec<float> {};

// Vectors j and j + L of a full word, kept lanes a * s, dropped +0. vload_arith: a kept lane goes
// through the product, which quiets a signalling NaN as the quieting load would (payload kept),
// and a dropped lane is zeroed, so the bits are vload's.
template <class S, class V>
REGCORE_HD void scaled_pair(const S* a, uint32_t w, int j, V vs, V& lo, V& hi) {
  constexpr int L = fvec<S>::L;
  lo = vkeep(w >> j, vload_arith(a + j) * vs);
  hi = vkeep(w >> (j + L), vload_arith(a + j + L) * vs);
}
#endif

// out[k] = bit k of w ? a[k] * s : +0 for k < cnt: the whole of dropout forward and backward.
// S is the storage type; the product is computed in compute_t<S> and rounded once as it is stored.
// (dropout.cpp stores full bfloat16 words with the AVX512_BF16 pair store where it can.)
template <class S>
REGCORE_HD void scale_word(const S* a, S* out, uint32_t w, int cnt, compute_t<S> s) {
  using C = compute_t<S>;
#if REGCORE_SIMD_W > 1
  if (cnt == 32) {
    using V = typename fvec<S>::type;
    const V vs(s);
#if defined(REGCORE_HAVE_BF16_EVENODD)
    if constexpr (std::is_same<S, bfloat16_t>::value) {  // AVX2: the shuffle-free layout (cpu/simd)
      for (int j = 0; j < 32; j += 2 * REGCORE_SIMD_W) {
        V even, odd;
        vload_evenodd(a + j, even, odd);
        vstore_evenodd(out + j, vkeep_evenodd(w >> j, 0, even * vs), vkeep_evenodd(w >> j, 1, odd * vs));
      }
      return;
    }
#endif
    for (int j = 0; j < 32; j += 2 * fvec<S>::L) {
      V lo, hi;
      scaled_pair(a, w, j, vs, lo, hi);
      pair_store(out + j, lo, hi);
    }
    return;
  }
#endif
  for (int k = 0; k < cnt; ++k) elem_store(out + k, ((w >> k) & 1u) ? elem_load(a + k) * s : C(0));
}

}  // namespace isa_kernels
REGCORE_CORE_END
