// Dropout-family kernels, compiled once per ISA level (scalar, avx2, avx512). One pass each: the
// mask is drawn (or read) a word of 32 elements at a time and applied while the data streams by.
#include "dropout_mask.h"
#include "stream_generate.h"
#include "../dispatch.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

using cpu::DropoutRule;

// S: storage type (every dtype); the product runs in compute_t<S> (scale_word).
template <class S>
void forward(const S* x, S* y, uint32_t* bits, uint8_t* bytes, int64_t begin, int64_t end,
             const DropoutRule& r, compute_t<S> scale) {
  for_each_drawn_word(begin, end, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    store_mask_word(bits, bytes, i0, cnt, w);
    scale_word(x + i0, y + i0, w, cnt, scale);
  });
}

template <class S>
void backward(const S* dy, S* dx, const uint32_t* bits, const uint8_t* bytes, int64_t begin,
              int64_t end, const DropoutRule& r, compute_t<S> scale) {
  for_each_mask_word(begin, end, bits, bytes, r, [&](int64_t i0, uint32_t w) {
    scale_word(dy + i0, dx + i0, w, word_count(i0, end), scale);
  });
}

#if defined(REGCORE_HAVE_BF16_NE)
// bfloat16 forward and backward with AVX512_BF16's pair store (vstore2_ne: one conversion for a
// pair of vectors; a pair with a subnormal lane takes vstore2), compiled in a GCC target region
// and called only where cpu::avx512_bf16_active() (the table entries below): the same bits as
// the plain kernels. The full-word body is scale_word's, with the other store.
#pragma GCC push_options
#pragma GCC target("avx512bf16")
namespace bf16ne {
REGCORE_HD void scale_word_ne(const bfloat16_t* a, bfloat16_t* out, uint32_t w, int cnt, float s) {
  if (cnt < 32) {
    scale_word(a, out, w, cnt, s);
    return;
  }
  const VF32 vs(s);
  for (int j = 0; j < 32; j += 2 * REGCORE_SIMD_W) {
    VF32 lo, hi;
    scaled_pair(a, w, j, vs, lo, hi);
    vstore2_ne<false>(out + j, lo, hi);
  }
}
// flatten: the word body (a lambda of this target) is inlined into the word loop, which the
// inliner's size limits would otherwise leave as a call per word.
__attribute__((flatten)) void forward(const bfloat16_t* x, bfloat16_t* y, uint32_t* bits, uint8_t* bytes,
                                      int64_t begin, int64_t end, const DropoutRule& r, float scale) {
  for_each_drawn_word(begin, end, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    store_mask_word(bits, bytes, i0, cnt, w);
    scale_word_ne(x + i0, y + i0, w, cnt, scale);
  });
}
__attribute__((flatten)) void backward(const bfloat16_t* dy, bfloat16_t* dx, const uint32_t* bits,
                                       const uint8_t* bytes, int64_t begin, int64_t end, const DropoutRule& r,
                                       float scale) {
  for_each_mask_word(begin, end, bits, bytes, r, [&](int64_t i0, uint32_t w) {
    scale_word_ne(dy + i0, dx + i0, w, word_count(i0, end), scale);
  });
}
}  // namespace bf16ne
#pragma GCC pop_options
#endif

// Compute lanes of storage type S (a plain compute_t<S> on the scalar build): the bias_act
// kernels are written once against ld/st/keep and the core activation templates; ld / st convert
// the 16-bit formats (core/half.h, cpu/simd), so S = bfloat16_t / float16_t compute in float32.
#if REGCORE_SIMD_W > 1
template <class S> using lanes_t = typename fvec<S>::type;
template <class S> constexpr int lanes_n() { return fvec<S>::L; }
template <class S> REGCORE_HD lanes_t<S> ld(const S* p) { return vload(p); }
template <class S> REGCORE_HD void st(S* p, lanes_t<S> v) { vstore(p, v); }
template <class V> REGCORE_HD V keep_lanes(uint32_t bits, V v) { return vkeep(bits, v); }
// Loads of values that go through float arithmetic before anything is stored (vload_arith's
// contract, cpu/simd: the arithmetic quiets a signalling NaN as vload would), and the store of
// two vectors into 2L consecutive elements (pair_store.h: one narrowing for both): for 16-bit
// data the conversions were most of a word's instructions (bfloat16 relu backward ran at a
// third of float32's elements a second).
template <class S> REGCORE_HD lanes_t<S> lda(const S* p) { return vload_arith(p); }
template <class S> REGCORE_HD void st2(S* p, lanes_t<S> a, lanes_t<S> b) { pair_store(p, a, b); }
#else
template <class S> using lanes_t = compute_t<S>;
template <class S> constexpr int lanes_n() { return 1; }
template <class S> REGCORE_HD compute_t<S> ld(const S* p) { return elem_load(p); }
template <class S> REGCORE_HD void st(S* p, compute_t<S> v) { elem_store(p, v); }
template <class V> REGCORE_HD V keep_lanes(uint32_t bits, V v) { return (bits & 1u) ? v : V(0); }
template <class S> REGCORE_HD compute_t<S> lda(const S* p) { return elem_load(p); }
template <class S> REGCORE_HD void st2(S* p, compute_t<S> a, compute_t<S> b) {
  elem_store(p, a);
  elem_store(p + 1, b);
}
#endif

// The 32 bias values of the word starting at column col: a pointer into bias when the word
// stays inside one row, else a copy into tmp that wraps at the row end.
template <class S>
REGCORE_HD const S* word_bias(const S* bias, int64_t col, int64_t cols, S* tmp) {
  if (col + 32 <= cols) return bias + col;
  for (int k = 0; k < 32; ++k) {
    tmp[k] = bias[col];
    if (++col == cols) col = 0;
  }
  return tmp;
}

// y = (keep ? f(x + bias) * scale : +0) [+ residual]; full words in lanes, the last partial
// word element by element (the same operations, so the same bits). In compute_t<S>, y rounded
// once as it is stored.
// flatten: the word body is inlined into the word loop (left to the inliner's size limits it
// was a call per word, its pointers reloaded from the captures each time).
template <int A, class S>
__attribute__((flatten)) void bias_act_forward_impl(const S* x, const S* bias, const S* res, S* y, uint32_t* bits,
                           uint8_t* bytes, int64_t begin, int64_t end, int64_t cols,
                           const DropoutRule& r, compute_t<S> scale) {
  using C = compute_t<S>;
  using V = lanes_t<S>;
  constexpr int L = lanes_n<S>();
  S tmp[32];
  int64_t col = begin % cols;
  for_each_drawn_word(begin, end, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    store_mask_word(bits, bytes, i0, cnt, w);
    if (cnt == 32) {
      // (the word's pointers as locals: the vector stores may alias anything, so pointers read
      // through the captures were reloaded after every store)
      const S* bp = word_bias(bias, col, cols, tmp);
      const S* xw = x + i0;
      const S* rw = res ? res + i0 : nullptr;
      S* yw = y + i0;
      const V vs(scale);
      for (int j = 0; j < 32; j += 2 * L) {
        V f0, d0, f1, d1;
        activation_fd<A>(lda(xw + j) + lda(bp + j), f0, d0);
        activation_fd<A>(lda(xw + j + L) + lda(bp + j + L), f1, d1);
        V v0 = keep_lanes(w >> j, f0 * vs), v1 = keep_lanes(w >> (j + L), f1 * vs);
        if (rw) {
          v0 = v0 + lda(rw + j);
          v1 = v1 + lda(rw + j + L);
        }
        st2(yw + j, v0, v1);
      }
      col += 32;   // (a division per word cost as much as the word's arithmetic)
      if (col >= cols) col %= cols;
      return;
    }
    for (int k = 0; k < cnt; ++k) {
      const int64_t i = i0 + k;
      C f, d;
      activation_fd<A>(elem_load(x + i) + elem_load(bias + col), f, d);
      C v = ((w >> k) & 1u) ? f * scale : C(0);
      if (res) v = v + elem_load(res + i);
      elem_store(y + i, v);
      if (++col == cols) col = 0;
    }
  });
}

// dx = keep ? (dy * scale) * f'(x + bias) : +0, and acc[col] += dx in row order (each column's
// sum sees its rows in the same order whatever the lane width, so the float64 sums are the same
// on every ISA and thread count). The sums add the stored dx values (for 16-bit data: dx as
// rounded), so dbias is exactly the column sums of dx, rounded once.
template <int A, class S>
__attribute__((flatten)) void bias_act_backward_impl(const S* dy, const S* x, const S* bias, const uint32_t* bits,
                            const uint8_t* bytes, S* dx, double* acc, int64_t begin, int64_t end,
                            int64_t cols, const DropoutRule& r, compute_t<S> scale) {
  using C = compute_t<S>;
  using V = lanes_t<S>;
  constexpr int L = lanes_n<S>();
  S tmp[32];
  C g32[32];
  int64_t col = begin % cols;
  for_each_mask_word(begin, end, bits, bytes, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    if (cnt == 32) {
      const bool inside = col + 32 <= cols;
      const S* bp = word_bias(bias, col, cols, tmp);
      const S* xw = x + i0;   // (locals, as in the forward)
      const S* dyw = dy + i0;
      S* dxw = dx + i0;
      C* gw = g32;
      const V vs(scale);
      for (int j = 0; j < 32; j += 2 * L) {
        V f0, d0, f1, d1;
        activation_fd<A>(lda(xw + j) + lda(bp + j), f0, d0);
        activation_fd<A>(lda(xw + j + L) + lda(bp + j + L), f1, d1);
        const V g0 = keep_lanes(w >> j, (lda(dyw + j) * vs) * d0);
        const V g1 = keep_lanes(w >> (j + L), (lda(dyw + j + L) * vs) * d1);
        st2(dxw + j, g0, g1);
        if constexpr (std::is_same<S, C>::value) {
          st(gw + j, g0);
          st(gw + j + L, g1);
        } else {   // the stored (rounded) values; a stored NaN is quiet, so lda reads its bits
          st(gw + j, lda(dxw + j));
          st(gw + j + L, lda(dxw + j + L));
        }
      }
#if REGCORE_SIMD_W > 1
      if (inside) {
        constexpr int H = REGCORE_SIMD_W / 2;  // float64 lanes
        double* aw = acc + col;
        for (int j = 0; j < 32; j += H) vstore_f64(aw + j, vload_f64(aw + j) + vload_f64(gw + j));
        col += 32;
        if (col == cols) col = 0;
        return;
      }
#endif
      (void)inside;
      for (int k = 0; k < 32; ++k) {
        acc[col] += double(g32[k]);
        if (++col == cols) col = 0;
      }
      return;
    }
    for (int k = 0; k < cnt; ++k) {
      const int64_t i = i0 + k;
      C g = C(0);
      if ((w >> k) & 1u) {
        C f, d;
        activation_fd<A>(elem_load(x + i) + elem_load(bias + col), f, d);
        g = (elem_load(dy + i) * scale) * d;
      }
      elem_store(dx + i, g);
      acc[col] += double(elem_load(dx + i));
      if (++col == cols) col = 0;
    }
  });
}

// One dispatch on the activation per chunk; the element loops are compiled per activation.
#define REGCORE_ACT_SWITCH(act, CALL)                     \
  switch (act) {                                          \
    case ACT_RELU: CALL(ACT_RELU); break;                 \
    case ACT_GELU_ERF: CALL(ACT_GELU_ERF); break;         \
    case ACT_GELU_TANH: CALL(ACT_GELU_TANH); break;       \
    case ACT_TANH: CALL(ACT_TANH); break;                 \
    case ACT_SIGMOID: CALL(ACT_SIGMOID); break;           \
    default: CALL(ACT_IDENTITY); break;                   \
  }

template <class T>
void bias_act_forward(const T* x, const T* bias, const T* res, T* y, uint32_t* bits,
                      uint8_t* bytes, int64_t begin, int64_t end, int64_t cols, int act,
                      const DropoutRule& r, compute_t<T> scale) {
#define REGCORE_CALL(A) bias_act_forward_impl<A, T>(x, bias, res, y, bits, bytes, begin, end, cols, r, scale)
  REGCORE_ACT_SWITCH(act, REGCORE_CALL)
#undef REGCORE_CALL
}

template <class T>
void bias_act_backward(const T* dy, const T* x, const T* bias, const uint32_t* bits,
                       const uint8_t* bytes, T* dx, double* acc, int64_t begin, int64_t end,
                       int64_t cols, int act, const DropoutRule& r, compute_t<T> scale) {
#define REGCORE_CALL(A) bias_act_backward_impl<A, T>(dy, x, bias, bits, bytes, dx, acc, begin, end, cols, r, scale)
  REGCORE_ACT_SWITCH(act, REGCORE_CALL)
#undef REGCORE_CALL
}
#undef REGCORE_ACT_SWITCH

// Noise is drawn into y in L1-sized pieces by the very kernel regcore.random.normal uses (so
// the draws are bit-identical with it), then combined with x while the piece is still in cache.
// 16-bit data: the draws stay in a float32 buffer (never rounded to 16 bits), x op z runs in
// float32 and is rounded once as it is stored.
template <class Tr, class T>
void noise(const T* x, T* y, int64_t begin, int64_t end, uint64_t seed, uint64_t offset, const Tr& tr,
           int multiplicative) {
  constexpr int64_t PIECE = 2048;
  using C = typename Tr::out_t;
  if constexpr (!std::is_same<T, C>::value) {
    alignas(64) C z[PIECE];
    for (int64_t s = begin; s < end; s += PIECE) {
      const int64_t e = end - s < PIECE ? end : s + PIECE;
      stream_generate(z, s, e, seed, offset, tr, s);
      int64_t i = s;
#if REGCORE_SIMD_W > 1
      // Lanes: x (vload_arith: the sum or product quiets a signalling NaN as the quieting load
      // would) op z in the element loop's operand order, two vectors a pair store.
      constexpr int64_t L = REGCORE_SIMD_W;
      const auto at = [&](int64_t k) {
        const VF32 a = vload_arith(x + k), b = vload(z + (k - s));
        return multiplicative ? a * b : a + b;
      };
      for (; i + 2 * L <= e; i += 2 * L) pair_store(y + i, at(i), at(i + L));
#endif
      for (; i < e; ++i)
        elem_store(y + i, multiplicative ? elem_load(x + i) * z[i - s] : elem_load(x + i) + z[i - s]);
    }
  } else {
    for (int64_t s = begin; s < end; s += PIECE) {
      const int64_t e = end - s < PIECE ? end : s + PIECE;
      stream_generate(y, s, e, seed, offset, tr);
      if (multiplicative) {
        for (int64_t i = s; i < e; ++i) y[i] = x[i] * y[i];
      } else {
        for (int64_t i = s; i < e; ++i) y[i] = x[i] + y[i];
      }
    }
  }
}

// ---------------------------------------------------------------- table entries: the dtype
// becomes the storage type S here, once per op; scalars are rounded once to S's arithmetic type.

void forward_entry(DType dt, const void* x, void* y, uint32_t* bits, uint8_t* bytes, int64_t b, int64_t e,
                   const DropoutRule& r, double scale) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
#if defined(REGCORE_HAVE_BF16_NE)
    if constexpr (std::is_same<S, bfloat16_t>::value) {
      if (cpu::avx512_bf16_active()) {
        bf16ne::forward(static_cast<const S*>(x), static_cast<S*>(y), bits, bytes, b, e, r, float(scale));
        return;
      }
    }
#endif
    forward<S>(static_cast<const S*>(x), static_cast<S*>(y), bits, bytes, b, e, r, compute_t<S>(scale));
  });
}
void backward_entry(DType dt, const void* dy, void* dx, const uint32_t* bits, const uint8_t* bytes, int64_t b,
                    int64_t e, const DropoutRule& r, double scale) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
#if defined(REGCORE_HAVE_BF16_NE)
    if constexpr (std::is_same<S, bfloat16_t>::value) {
      if (cpu::avx512_bf16_active()) {
        bf16ne::backward(static_cast<const S*>(dy), static_cast<S*>(dx), bits, bytes, b, e, r, float(scale));
        return;
      }
    }
#endif
    backward<S>(static_cast<const S*>(dy), static_cast<S*>(dx), bits, bytes, b, e, r, compute_t<S>(scale));
  });
}
void bias_act_forward_entry(DType dt, const void* x, const void* bias, const void* res, void* y, uint32_t* bits,
                            uint8_t* bytes, int64_t b, int64_t e, int64_t cols, int act, const DropoutRule& r,
                            double scale) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    bias_act_forward<S>(static_cast<const S*>(x), static_cast<const S*>(bias), static_cast<const S*>(res),
                        static_cast<S*>(y), bits, bytes, b, e, cols, act, r, compute_t<S>(scale));
  });
}
void bias_act_backward_entry(DType dt, const void* dy, const void* x, const void* bias, const uint32_t* bits,
                             const uint8_t* bytes, void* dx, double* acc, int64_t b, int64_t e, int64_t cols,
                             int act, const DropoutRule& r, double scale) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    bias_act_backward<S>(static_cast<const S*>(dy), static_cast<const S*>(x), static_cast<const S*>(bias), bits,
                         bytes, static_cast<S*>(dx), acc, b, e, cols, act, r, compute_t<S>(scale));
  });
}
void noise_entry(DType dt, const void* x, void* y, int64_t b, int64_t e, uint64_t seed, uint64_t offset,
                 double mean, double std, int multiplicative) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    noise(static_cast<const S*>(x), static_cast<S*>(y), b, e, seed, offset, normal_transform<S>(mean, std),
          multiplicative);
  });
}

}  // namespace

const cpu::DropoutTable& dropout_table() {
  static const cpu::DropoutTable table = {forward_entry, backward_entry, bias_act_forward_entry,
                                          bias_act_backward_entry, noise_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
