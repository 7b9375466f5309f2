// Channel (spatial) dropout and alpha dropout kernels, compiled once per ISA level. One pass over
// the data: the keep words of the (sample, channel) decisions are tiny (N C / 32 words) and drawn
// before the pass; the pass reads each decision where it needs it. Dropped channels-first rows
// are written without reading x (a store-only stream), so channel dropout moves less than copy.
#include <cstdint>
#include <type_traits>

#include "../../core/channel_dropout.h"
#include "../channel_dropout_table.h"
#include "dropout_mask.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

using cpu::ChannelShape;
using cpu::DropoutRule;
using cpu::MaskedAffine;

// The SIMD paths take every dtype: 16-bit data computes in float32 lanes (vload_arith / vstore
// convert, cpu/simd), the element loop's arithmetic in the same order, so the same bits.
template <class S>
constexpr bool kLanes = REGCORE_SIMD_W > 1;

template <class S>
struct Coef {
  compute_t<S> s, b, d;
  explicit Coef(const MaskedAffine& f)
      : s(compute_t<S>(f.scale)), b(compute_t<S>(f.shift)), d(compute_t<S>(f.dropped)) {}
};

// y[k] for k < cnt from the keep bits of w (bit k). Full words in lanes: kept lanes are
// x * s (+ b), dropped lanes +0 (vkeep is an AND); the affine form adds vkeep(~w, d), which is
// exact: one of the two terms is +0, and neither x * s + b (b >= +0, a round-to-nearest sum is
// -0 only when both terms are) nor d (< 0) is -0, so the sum is the selected value bit for bit.
#if REGCORE_SIMD_W > 1
// One vector store: non-temporal (NT) where the address is vector-aligned, else an ordinary one.
// One vector of a 16-bit output is half a vector's bytes: stored the ordinary way (run_apply
// streams 16-bit rows two vectors at a time, vstream2).
template <bool NT, class S, class V>
REGCORE_HD void put(S* p, V v) {
  if constexpr (sizeof(S) < 4) vstore(p, v);
  else if (NT && (reinterpret_cast<uintptr_t>(p) & (sizeof(V) - 1)) == 0) vstream(p, v);
  else vstore(p, v);
}
// The vector of x at p, for a product: vload_arith (the product quiets a signalling NaN as the
// quieting load would; a lane not multiplied is replaced, never stored).
template <class S> REGCORE_HD typename fvec<S>::type xload(const S* p) { return vload_arith(p); }
#endif

template <bool AFFINE, bool NT, class S>
void word_apply(const S* x, S* y, uint32_t w, int cnt, const Coef<S>& c) {
#if REGCORE_SIMD_W > 1
  if constexpr (kLanes<S>) {
    if (cnt == 32) {
      using V = typename fvec<S>::type;
      constexpr int L = fvec<S>::L;
      const V vs(c.s), vb(c.b), vd(c.d);
      const auto at = [&](int j) {
        V v = xload(x + j) * vs;
        if (AFFINE) v = vkeep(w >> j, v + vb) + vkeep(~w >> j, vd);
        else v = vkeep(w >> j, v);
        return v;
      };
      if constexpr (sizeof(S) < 4) {  // 16-bit: two vectors a store (dropout_mask.h)
        for (int j = 0; j < 32; j += 2 * L) pair_store(y + j, at(j), at(j + L));
      } else {
        for (int j = 0; j < 32; j += L) put<NT>(y + j, at(j));
      }
      return;
    }
  }
#endif
  using T = compute_t<S>;
  for (int k = 0; k < cnt; ++k) elem_store(y + k, masked_affine<AFFINE, T>((w >> k) & 1u, elem_load(x + k), c.s, c.b, c.d));
}

// A run of len elements sharing one decision (a channels-first row, or part of one). With NT,
// scalar elements up to the first vector-aligned output, then non-temporal vector stores (the
// same values whichever path writes an element).
template <bool AFFINE, bool NT, class S>
void run_apply(const S* x, S* y, int64_t len, uint32_t keep, const Coef<S>& c) {
  using T = compute_t<S>;
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  if constexpr (kLanes<S>) {
    using V = typename fvec<S>::type;
    constexpr int L = fvec<S>::L;
    if (NT) {  // up to the first output address aligned to a vector (a 16-bit pair is one vector's bytes)
      const int64_t head = int64_t(((sizeof(V) - (reinterpret_cast<uintptr_t>(y) & (sizeof(V) - 1))) &
                                    (sizeof(V) - 1)) / sizeof(S));
      for (; k < head && k < len; ++k) elem_store(y + k, masked_affine<AFFINE, T>(keep, keep ? T(elem_load(x + k)) : T(0), c.s, c.b, c.d));
    }
    const V vs(c.s), vb(c.b), vd(AFFINE ? c.d : T(0));
    // a dropped row is store-only (never reads x); a kept row is x * s (+ b) with no mask at all
    // (masked_affine's kept branch)
    const auto at = [&](int64_t j) {
      if (!keep) return vd;
      V v = xload(x + j) * vs;
      if (AFFINE) v = v + vb;
      return v;
    };
    if constexpr (NT && sizeof(S) < 4) {  // 16-bit: two vectors fill one aligned vector's bytes
      for (; k + 2 * L <= len; k += 2 * L) vstream2(y + k, at(k), at(k + L));
    }
    for (; k + L <= len; k += L) put<NT>(y + k, at(k));
  }
#endif
  for (; k < len; ++k) elem_store(y + k, masked_affine<AFFINE, T>(keep, keep ? T(elem_load(x + k)) : T(0), c.s, c.b, c.d));
}

// Keep bits of 32 consecutive channels-last elements starting at channel c of a sample whose
// channel decisions start at bit base: the channel pattern repeats with period C.
REGCORE_HD uint32_t periodic_bits(const uint32_t* keep, int64_t base, int64_t C, int64_t c, int cnt) {
  uint32_t w = 0;
  int k = 0;
  while (k < cnt) {
    const int64_t left = C - c;  // channels to the end of this row
    const int take = left < cnt - k ? int(left) : cnt - k;
    w |= keep_bits_at(keep, base + c, take) << k;
    k += take;
    c = 0;
  }
  return w;
}

template <bool AFFINE, bool NT, class S>
void channel_apply_impl(const S* x, S* y, const uint32_t* keep, int64_t begin, int64_t end,
                        const ChannelShape& sh, const Coef<S>& c) {
  const int64_t C = sh.channels, Sp = sh.spatial;
  if (!sh.channels_last) {
    for (int64_t i = begin, r = begin / Sp; i < end; ++r) {
      const int64_t stop = (r + 1) * Sp < end ? (r + 1) * Sp : end;
      run_apply<AFFINE, NT>(x + i, y + i, stop - i, keep_bit_at(keep, r), c);
      i = stop;
    }
    return;
  }
  const int64_t per_sample = Sp * C;
  int64_t i = begin;
#if REGCORE_SIMD_W > 1
  if constexpr (kLanes<S>) {
    // Channels last with C a multiple of the vector width: every vector holds channels
    // [c, c + L) of one position, so its keep bits are the same L bits of the sample's decisions
    // at every position. They are read once per sample into `lane_bits`, and the pass is a
    // plain load-scale-mask-store per vector; the word path below re-assembles 32 bits from the
    // channel pattern for every 32 elements, which at cache-resident sizes costs more than the
    // memory traffic. Same values element for element (word_apply's vector arithmetic).
    using V = typename fvec<S>::type;
    constexpr int L = fvec<S>::L;
    constexpr int64_t kMaxVectors = 256;  // per row: C <= 256 L (4096 float32 channels)
    if (C % L == 0 && C / L <= kMaxVectors) {
      const int64_t per_row = C / L;
      uint32_t lane_bits[kMaxVectors];
      const V vs(c.s), vb(c.b), vd(c.d);
      while (i < end) {
        const int64_t n = i / per_sample;
        const int64_t sample_end = (n + 1) * per_sample < end ? (n + 1) * per_sample : end;
        for (int64_t j = 0; j < per_row; ++j) lane_bits[j] = keep_bits_at(keep, n * C + j * L, L);
        // up to the first row boundary (a chunk may start inside a row), element by element
        int64_t ch = (i - n * per_sample) % C;
        for (; ch != 0 && ch < C && i < sample_end; ++ch, ++i) {
          using T = compute_t<S>;
          elem_store(y + i, masked_affine<AFFINE, T>(keep_bit_at(keep, n * C + ch), elem_load(x + i), c.s, c.b, c.d));
        }
        for (; i + C <= sample_end; i += C) {
          for (int64_t j = 0; j < per_row; ++j) {
            V v = xload(x + i + j * L) * vs;
            if (AFFINE) v = vkeep(lane_bits[j], v + vb) + vkeep(~lane_bits[j], vd);
            else v = vkeep(lane_bits[j], v);
            put<NT>(y + i + j * L, v);
          }
        }
        for (ch = 0; i < sample_end; ++ch, ++i) {  // a chunk that ends inside a row
          using T = compute_t<S>;
          elem_store(y + i, masked_affine<AFFINE, T>(keep_bit_at(keep, n * C + ch), elem_load(x + i), c.s, c.b, c.d));
        }
      }
      return;
    }
  }
#endif
  // Channels last: groups of up to 32 elements inside one sample, bits from the sample's
  // channel pattern (a group may wrap over several rows when C < 32).
  while (i < end) {
    const int64_t n = i / per_sample;
    const int64_t sample_end = (n + 1) * per_sample < end ? (n + 1) * per_sample : end;
    const int64_t base = n * C;
    int64_t ch = (i - n * per_sample) % C;
    while (i < sample_end) {
      const int cnt = sample_end - i < 32 ? int(sample_end - i) : 32;
      word_apply<AFFINE, NT>(x + i, y + i, periodic_bits(keep, base, C, ch, cnt), cnt, c);
      ch += cnt;  // no division per group: at most one wrap when C >= 32
      if (ch >= C) ch = C >= 32 ? ch - C : ch % C;
      i += cnt;
    }
  }
}

// ---------------------------------------------------------------- table entries: the dtype
// becomes the storage type S here, once per op.

void keep_words_entry(uint32_t* words, int64_t q0, int64_t q1, int64_t n, const DropoutRule& r) {
  const int64_t end = 32 * q1 < n ? 32 * q1 : n;
  for_each_drawn_word(32 * q0, end, r, [&](int64_t i0, uint32_t w) {
    store_mask_word(words, nullptr, i0, word_count(i0, end), w);
  });
}

void channel_apply_entry(DType dt, const void* x, void* y, const uint32_t* keep, int64_t b, int64_t e,
                         const ChannelShape& sh, const MaskedAffine& f, int stream) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    const Coef<S> c(f);
    const S* px = static_cast<const S*>(x);
    S* py = static_cast<S*>(y);
#if REGCORE_SIMD_W > 1
    if (stream) {
      if (f.affine) channel_apply_impl<true, true>(px, py, keep, b, e, sh, c);
      else channel_apply_impl<false, true>(px, py, keep, b, e, sh, c);
      vstream_fence();  // the non-temporal stores are ordered before whatever reads y next
      return;
    }
#else
    (void)stream;
#endif
    if (f.affine) channel_apply_impl<true, false>(px, py, keep, b, e, sh, c);
    else channel_apply_impl<false, false>(px, py, keep, b, e, sh, c);
  });
}

void alpha_forward_entry(DType dt, const void* x, void* y, uint32_t* bits, int64_t b, int64_t e,
                         const DropoutRule& r, const MaskedAffine& f) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    const Coef<S> c(f);
    const S* px = static_cast<const S*>(x);
    S* py = static_cast<S*>(y);
    for_each_drawn_word(b, e, r, [&](int64_t i0, uint32_t w) {
      const int cnt = word_count(i0, e);
      store_mask_word(bits, nullptr, i0, cnt, w);
      word_apply<true, false>(px + i0, py + i0, w, cnt, c);
    });
  });
}

}  // namespace

const cpu::ChannelDropoutTable& channel_dropout_table() {
  static const cpu::ChannelDropoutTable table = {keep_words_entry, channel_apply_entry, alpha_forward_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
