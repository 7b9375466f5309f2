// Penalized SGD kernels, compiled once per ISA level (scalar, avx2, avx512). The arithmetic is
// core/sgd_rule.h (and core/stochastic_round.h for 16-bit parameters); this file only moves data:
// full SIMD vectors, then the same rule on single elements for the tail (identical bits, since a
// lane and a scalar do the same IEEE operations).
//
// Storage types: SW of the updated weights (the parameters, or their float32 master copy), SG of
// the gradient, compute_t<SW> of the momentum buffer. The pairs are (S, S) for every dtype S and
// (float, bfloat16_t / float16_t) for a float32 master of 16-bit parameters.
#include <algorithm>
#include <type_traits>

#include "../../core/sgd_rule.h"
#include "../../core/stochastic_round.h"
#include "../simd/vec.h"
#include "../sgd_table.h"
#include "philox_lanes.h"
#include "stream_generate.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

template <class S>
constexpr bool is_half_v = std::is_same<S, bfloat16_t>::value || std::is_same<S, float16_t>::value;

#if REGCORE_SIMD_W > 1
template <class C> struct sgd_vec;
template <> struct sgd_vec<float> { using type = VF32; static constexpr int64_t L = REGCORE_SIMD_W; };
template <> struct sgd_vec<double> { using type = VF64; static constexpr int64_t L = REGCORE_SIMD_W / 2; };
// The 16 canonical lanes as float64 vectors of W/2 lanes each.
constexpr int kAccVecs = 16 / (REGCORE_SIMD_W / 2);
#endif

// Loads and stores of compute type C: one element (Vec = false) or one SIMD vector of L elements
// of any storage type whose arithmetic is C (16-bit storage converts in vload / vstore). U: the
// lanes' random words for stochastic rounding (an element's whole word; a vector's words as their
// top 16 bits, all the rounding reads, core/stochastic_round.h).
template <class C, bool Vec> struct Lanes {
  using V = C;
  using U = uint32_t;
  static constexpr int64_t L = 1;
  template <class S> static V load(const S* p) { return elem_load(p); }
  template <class S> static V load_arith(const S* p) { return elem_load(p); }
  template <class S> static void store(S* p, V v) { elem_store(p, v); }
  template <class S> static void store_sr(S* p, V v, U r) { elem_store(p, sr_format<S>::round(v, r)); }
  static U words(const uint32_t* p) { return *p; }
};
#if REGCORE_SIMD_W > 1
template <class C> struct Lanes<C, true> {
  using V = typename sgd_vec<C>::type;
  using U = VU32;
  static constexpr int64_t L = sgd_vec<C>::L;
  template <class S> static V load(const S* p) { return vload(p); }
  // A load that may leave a signalling NaN signalling: for values that pass through float
  // arithmetic before anything is stored (cpu/simd: vload_arith), where it costs one shuffle
  // against vload's five operations for bfloat16.
  template <class S> static V load_arith(const S* p) { return vload_arith(p); }
  template <class S> static void store(S* p, V v) { vstore(p, v); }
  // bfloat16: fused rounding stores with the bits of rounding, then storing (cpu/simd).
  template <class S> static void store_sr(S* p, V v, U r16) {
    if constexpr (std::is_same<S, bfloat16_t>::value) vstore_sr(p, v, r16);
    else vstore(p, sr_format<S>::round_top(v, r16));
  }
  // 2L consecutive elements.
  template <class S> static void store_sr2(S* p, V a, V b, U ra, U rb) {
    if constexpr (std::is_same<S, bfloat16_t>::value) vstore2_sr(p, a, b, ra, rb);
    else vstore2(p, sr_format<S>::round_top(a, ra), sr_format<S>::round_top(b, rb));
  }
  // Random words as 32-bit lanes (a float32 load moves bits unchanged), their top halves.
  static U words(const uint32_t* p) { return as_uint(vload(reinterpret_cast<const float*>(p))) >> 16; }
};
#endif

// How a new weight is stored: rounded to nearest even (or a plain store for float/double),
// stochastically rounded with the element's random word, or as a float32 master whose 16-bit
// parameters (out) receive it rounded to nearest even in the same pass.
enum class Store { kPlain, kStochastic, kMasterOut };

template <class SW, class SG> struct StepArgs {
  SW* w;
  const SG* g;
  compute_t<SW>* b;
  SG* out;                // kMasterOut: the 16-bit parameters
  const uint32_t* words;  // kStochastic through a block: words[i - wbase] is element i's word
  int64_t wbase;
};

// The new weight of element or vector i (in its arithmetic type), the buffer already stored.
template <bool Vec, bool Mom, bool First, class SW, class SG>
REGCORE_HD typename Lanes<compute_t<SW>, Vec>::V update_at(const StepArgs<SW, SG>& a, int64_t i,
                                                         const SgdParams<compute_t<SW>>& p) {
  using C = compute_t<SW>;
  using LN = Lanes<C, Vec>;
  using V = typename LN::V;
  // Whatever sgd_rule does, it ends in w - lr * d, float arithmetic that quiets a signalling NaN
  // in w as the quieting load would have (x86 keeps the first operand's payload, signalling or
  // not). The gradient too, except on the first momentum step, which stores it as the buffer.
  V w = LN::load_arith(a.w + i), b = (Mom && !First) ? LN::load(a.b + i) : V(C(0));
  const V g = (Mom && First) ? LN::load(a.g + i) : LN::load_arith(a.g + i);
  sgd_rule(w, g, b, First, p);
  if (Mom) LN::store(a.b + i, b);
  return w;
}

// r: the elements' random words (kStochastic only).
template <bool Vec, bool Mom, bool First, Store St, class SW, class SG>
REGCORE_HD void step_at(const StepArgs<SW, SG>& a, int64_t i, const SgdParams<compute_t<SW>>& p,
                        typename Lanes<compute_t<SW>, Vec>::U r) {
  using LN = Lanes<compute_t<SW>, Vec>;
  const auto w = update_at<Vec, Mom, First>(a, i, p);
  if constexpr (St == Store::kStochastic && is_half_v<SW>) LN::store_sr(a.w + i, w, r);
  else LN::store(a.w + i, w);
  if constexpr (St == Store::kMasterOut && is_half_v<SG>) LN::store(a.out + i, w);
}

template <bool Vec, Store St, class SW, class SG>
typename Lanes<compute_t<SW>, Vec>::U words_at(const StepArgs<SW, SG>& a, int64_t i) {
  using U = typename Lanes<compute_t<SW>, Vec>::U;
  if constexpr (St == Store::kStochastic) return Lanes<compute_t<SW>, Vec>::words(a.words + (i - a.wbase));
  else return U(0u);
}

// The loops read the pointers and hyper-parameters from local copies: an integer vector store
// (a may-alias type) could otherwise overwrite the caller's structs as far as the compiler knows,
// which reloads each of them and retests every flag per vector.
template <bool Mom, bool First, Store St, class SW, class SG>
void step_range(const StepArgs<SW, SG>& args, int64_t begin, int64_t end, const SgdParams<compute_t<SW>>& params) {
  const StepArgs<SW, SG> a = args;
  const SgdParams<compute_t<SW>> p = params;
  int64_t i = begin;
#if REGCORE_SIMD_W > 1
  constexpr int64_t L = Lanes<compute_t<SW>, true>::L;
  for (; i + L <= end; i += L) step_at<true, Mom, First, St>(a, i, p, words_at<true, St>(a, i));
#endif
  for (; i < end; ++i) step_at<false, Mom, First, St>(a, i, p, words_at<false, St>(a, i));
}

template <class F> void with_bool(bool v, F&& f) {
  if (v) f(std::true_type{});
  else f(std::false_type{});
}

// f(mom, first) as compile-time booleans: branch-free inner loops.
template <class C, class F> void with_mom_first(const SgdParams<C>& p, bool first, F&& f) {
  with_bool((p.flags & kSgdMomentum) != 0, [&](auto mom) {
    with_bool(first && decltype(mom)::value, [&](auto fst) { f(mom, fst); });
  });
}

// The loop for one store kind.
template <Store St, class SW, class SG>
void step_loop(const StepArgs<SW, SG>& a, int64_t begin, int64_t end, bool first, const SgdParams<compute_t<SW>>& p) {
  with_mom_first(p, first, [&](auto mom, auto fst) {
    step_range<decltype(mom)::value, decltype(fst)::value, St>(a, begin, end, p);
  });
}

// Elements per batch of random words (on the stack; stream_generate fills them W blocks at a time).
constexpr int64_t kWordBlock = 1024;

#if REGCORE_SIMD_W > 1
// NG groups of 4W elements from element i, whose words are those of the NG * W counter blocks
// from b0 (the caller checked that the low counter word does not wrap among them), generated
// in registers: the groups' Philox chains are independent, so two of them overlap in the core
// (stream_generate.h), and each pair of vectors goes out through one pair store.
template <int NG, bool Mom, bool First, class SW, class SG>
void sr_groups(const StepArgs<SW, SG>& a, int64_t i, const SgdParams<float>& p, const StreamKey& key, uint64_t b0) {
  using LN = Lanes<float, true>;
  constexpr int64_t W = REGCORE_SIMD_W;
  VU32 x[4 * NG], r[4 * NG];
  for (int k = 0; k < NG; ++k) philox_lanes(b0 + uint64_t(k * W), key, x + 4 * k);
  for (int k = 0; k < NG; ++k) words_top16(x + 4 * k, r + 4 * k);
  for (int j = 0; j < 4 * NG; j += 2) {
    const VF32 w0 = update_at<true, Mom, First>(a, i + j * W, p);
    const VF32 w1 = update_at<true, Mom, First>(a, i + (j + 1) * W, p);
    LN::store_sr2(a.w + i + j * W, w0, w1, r[j], r[j + 1]);
  }
}
#endif

// Stochastic rounding of [begin, end), element i (of the tensor: elem0 + i) rounded with word
// (elem0 + i) % 4 of counter block sr_offset + (elem0 + i) / 4 (the `bits` draw), wherever the
// caller cut the range. Runs of 4W elements that start a block take their words straight from
// philox_lanes in registers (put into element order by word shuffles); the edges, and groups
// whose low counter word would wrap, go through a block of words on the stack. Every element
// sees the same word and the same operations either way.
template <class SW, class SG>
void step_stochastic(StepArgs<SW, SG> a, int64_t begin, int64_t end, bool first, const SgdParams<float>& p,
                     uint64_t seed, uint64_t sr_offset, int64_t elem0) {
  const auto through_block = [&](int64_t from, int64_t to) {
    alignas(64) uint32_t words[kWordBlock];
    for (int64_t k = from; k < to; k += kWordBlock) {
      const int64_t e = std::min(k + kWordBlock, to);
      stream_generate(words, elem0 + k, elem0 + e, seed, sr_offset, BitsTransform{}, elem0 + k);
      a.words = words;
      a.wbase = k;
      step_loop<Store::kStochastic>(a, k, e, first, p);
    }
  };
#if REGCORE_SIMD_W > 1
  constexpr int64_t W = REGCORE_SIMD_W, G = 4 * W;
  int64_t i = std::min(begin + (4 - (elem0 + begin) % 4) % 4, end);  // the first block start
  if (end - i >= G) {
    through_block(begin, i);
    with_mom_first(p, first, [&](auto mom, auto fst) {
      constexpr bool M = decltype(mom)::value, F = decltype(fst)::value;
      const StepArgs<SW, SG> la = a;  // local copies: see step_range
      const SgdParams<float> lp = p;
      const StreamKey key = stream_key(seed);
      const auto b0 = [&](int64_t k) { return sr_offset + uint64_t((elem0 + k) / 4); };
      for (; i + 2 * G <= end; i += 2 * G) {
        if (uint32_t(b0(i)) <= 0xFFFFFFFFu - uint32_t(2 * W - 1)) sr_groups<2, M, F>(la, i, lp, key, b0(i));
        else through_block(i, i + 2 * G);
      }
      if (i + G <= end) {
        if (uint32_t(b0(i)) <= 0xFFFFFFFFu - uint32_t(W - 1)) sr_groups<1, M, F>(la, i, lp, key, b0(i));
        else through_block(i, i + G);
        i += G;
      }
    });
    begin = i;
  }
#endif
  through_block(begin, end);
}

// Updates [begin, end) of arrays whose element 0 is element elem0 of the tensor (whose index
// picks the random word). out: the 16-bit parameters of a master (null: none, or written later).
template <class SW, class SG>
void step(SW* w, const SG* g, compute_t<SW>* b, SG* out, int64_t begin, int64_t end, bool first,
          const SgdParams<compute_t<SW>>& p, uint64_t seed, uint64_t sr_offset, int64_t elem0) {
  StepArgs<SW, SG> a{w, g, b, out, nullptr, 0};
  if constexpr (is_half_v<SW>) {
    if (p.flags & kSgdStochastic) {
      step_stochastic(a, begin, end, first, p, seed, sr_offset, elem0);
      return;
    }
  }
  if (out) step_loop<Store::kMasterOut>(a, begin, end, first, p);
  else step_loop<Store::kPlain>(a, begin, end, first, p);
}

#if REGCORE_SIMD_W > 1
// H = W/2 elements of x as float64 lanes.
template <class S> VF64 load_f64(const S* p) {
  if constexpr (is_half_v<S>) {
    alignas(64) float t[REGCORE_SIMD_W / 2];
    for (int q = 0; q < REGCORE_SIMD_W / 2; ++q) t[q] = elem_load(p + q);
    return vload_f64(t);
  } else {
    return vload_f64(p);
  }
}
#endif

// Segment x[0, n) into the canonical lanes (see sgd_table.h).
template <class T>
void lanes(const T* x, int64_t n, double* abs_acc, double* sq) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t H = REGCORE_SIMD_W / 2;
  VF64 s[kAccVecs], a[kAccVecs];
  if (n < 16) goto tail;  // short segments (strided max-norm): no vector accumulators
  for (int j = 0; j < kAccVecs; ++j) { s[j] = vload_f64(sq + j * H); }
  if (abs_acc) {
    for (int j = 0; j < kAccVecs; ++j) a[j] = vload_f64(abs_acc + j * H);
    for (; k + 16 <= n; k += 16)
      for (int j = 0; j < kAccVecs; ++j) {
        VF64 v = load_f64(x + k + j * H);
        a[j] = a[j] + sgd_abs(v);
        s[j] = s[j] + v * v;
      }
    for (int j = 0; j < kAccVecs; ++j) vstore_f64(abs_acc + j * H, a[j]);
  } else {
    for (; k + 16 <= n; k += 16)
      for (int j = 0; j < kAccVecs; ++j) {
        VF64 v = load_f64(x + k + j * H);
        s[j] = s[j] + v * v;
      }
  }
  for (int j = 0; j < kAccVecs; ++j) vstore_f64(sq + j * H, s[j]);
tail:
#endif
  for (; k < n; ++k) {
    const double v = double(elem_load(x + k));
    if (abs_acc) abs_acc[k & 15] = abs_acc[k & 15] + sgd_abs(v);
    sq[k & 15] = sq[k & 15] + v * v;
  }
}

template <class T>
void sumsq_add(const T* x, int64_t n, double* acc) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t H = REGCORE_SIMD_W / 2;
  for (; k + H <= n; k += H) {
    const VF64 v = load_f64(x + k);
    vstore_f64(acc + k, vload_f64(acc + k) + v * v);
  }
#endif
  for (; k < n; ++k) {
    const double v = double(elem_load(x + k));
    acc[k] = acc[k] + v * v;
  }
}

// x[0, n) *= s in x's arithmetic type (a 16-bit x rounds each product to nearest even).
template <class T>
void scale(T* x, int64_t n, compute_t<T> s) {
  int64_t i = 0;
#if REGCORE_SIMD_W > 1
  using LN = Lanes<compute_t<T>, true>;
  const typename LN::V sv(s);
  for (; i + LN::L <= n; i += LN::L) LN::store(x + i, LN::load(x + i) * sv);
#endif
  for (; i < n; ++i) elem_store(x + i, elem_load(x + i) * s);
}

// dst[0, n) = src rounded to nearest even (16-bit parameters from their float32 master).
template <class S>
void narrow(S* dst, const float* src, int64_t n) {
  int64_t i = 0;
#if REGCORE_SIMD_W > 1
  using LN = Lanes<float, true>;
  for (; i + LN::L <= n; i += LN::L) LN::store(dst + i, LN::load(src + i));
#endif
  for (; i < n; ++i) elem_store(dst + i, src[i]);
}

// One row at a time: update it, sum the squares of the new weights while the row is hot in
// cache, and rescale it there (at most one extra read and write of the row, from cache).
constexpr int64_t kRowBlock = 2048;

template <class SW, class SG>
void step_rows(SW* w, const SG* g, compute_t<SW>* b, int64_t r0, int64_t r1, int64_t len, bool first,
               const SgdParams<compute_t<SW>>& p, const SgdHyper& h, uint64_t sr_offset) {
  const bool mom = (p.flags & kSgdMomentum) != 0;
  for (int64_t r = r0; r < r1; ++r) {
    SW* wr = w + r * len;
    const SG* gr = g + r * len;
    compute_t<SW>* br = mom ? b + r * len : nullptr;
    double sq[16] = {0};
    // Blocks of kRowBlock elements (a multiple of 16, so lane positions stay relative to the
    // row start): update the block, then fold its fresh values into the lanes from L1. The
    // random words (stochastic rounding) follow the element's index in the whole tensor.
    for (int64_t k = 0; k < len; k += kRowBlock) {
      const int64_t e = (k + kRowBlock < len) ? k + kRowBlock : len;
      step(wr, gr, br, static_cast<SG*>(nullptr), k, e, first, p, h.seed, sr_offset, r * len);
      lanes(wr + k, e - k, nullptr, sq);
    }
    const double s = sgd_max_norm_scale(sgd_lane_tree(sq), h.max_norm);
    if (s != 1.0) scale(wr, len, compute_t<SW>(s));
  }
}

// ---------------------------------------------------------------- table entries: the dtypes
// become storage types here, once per op; the hyper-parameters are rounded once to the weights'
// arithmetic type.

// f(type_tag<SW>, type_tag<SG>) for tensor t's weight and gradient storage types.
template <class F> void visit_pair(const SgdTensor& t, F&& f) {
  visit_dtype(t.dtype, [&](auto wt) {
    using SW = REGCORE_TAG_TYPE(wt);
    if constexpr (std::is_same<SW, float>::value) {
      if (t.half_out) {
        visit_dtype(t.half_dtype, [&](auto gt) {
          using SG = REGCORE_TAG_TYPE(gt);
          if constexpr (is_half_v<SG>) f(wt, gt);
        });
        return;
      }
    }
    f(wt, wt);
  });
}

void step_entry(const SgdTensor& t, int64_t begin, int64_t end, const SgdHyper& h) {
  visit_pair(t, [&](auto wt, auto gt) {
    using SW = REGCORE_TAG_TYPE(wt);
    using SG = REGCORE_TAG_TYPE(gt);
    // Max-norm tensors get their 16-bit copy after the rescale (sgd_api.cpp), the others here.
    SG* out = (t.half_out && t.rows == 0) ? static_cast<SG*>(t.half_out) : nullptr;
    step(static_cast<SW*>(t.w), static_cast<const SG*>(t.g), static_cast<compute_t<SW>*>(t.b), out, begin, end,
         t.first, sgd_params<compute_t<SW>>(h), h.seed, t.sr_offset, 0);
  });
}
void step_rows_entry(const SgdTensor& t, int64_t r0, int64_t r1, const SgdHyper& h) {
  visit_pair(t, [&](auto wt, auto gt) {
    using SW = REGCORE_TAG_TYPE(wt);
    using SG = REGCORE_TAG_TYPE(gt);
    step_rows(static_cast<SW*>(t.w), static_cast<const SG*>(t.g), static_cast<compute_t<SW>*>(t.b), r0, r1,
              t.inner, t.first, sgd_params<compute_t<SW>>(h), h, t.sr_offset);
  });
}
void lanes_entry(DType dt, const void* x, int64_t n, double* a, double* s) {
  visit_dtype(dt, [&](auto tag) { lanes(static_cast<const REGCORE_TAG_TYPE(tag)*>(x), n, a, s); });
}
void sumsq_add_entry(DType dt, const void* x, int64_t n, double* acc) {
  visit_dtype(dt, [&](auto tag) { sumsq_add(static_cast<const REGCORE_TAG_TYPE(tag)*>(x), n, acc); });
}
void scale_entry(DType dt, void* x, int64_t n, double s) {
  visit_dtype(dt, [&](auto tag) {
    using T = REGCORE_TAG_TYPE(tag);
    scale(static_cast<T*>(x), n, compute_t<T>(s));
  });
}
void narrow_entry(DType dt, void* dst, const float* src, int64_t n) {
  visit_dtype(dt, [&](auto tag) {
    using S = REGCORE_TAG_TYPE(tag);
    if constexpr (is_half_v<S>) narrow(static_cast<S*>(dst), src, n);
  });
}

}  // namespace

const cpu::SgdTable& sgd_table() {
  static const cpu::SgdTable table = {step_entry, step_rows_entry, lanes_entry, sumsq_add_entry, scale_entry,
                                      narrow_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
