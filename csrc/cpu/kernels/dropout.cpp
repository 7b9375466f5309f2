// Dropout-family kernels, compiled once per ISA level (scalar, avx2, avx512). One pass each: the
// mask is drawn (or read) a word of 32 elements at a time and applied while the data streams by.
#include "dropout_mask.h"
#include "stream_generate.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

using cpu::DropoutRule;

template <class T>
void forward(const T* x, T* y, uint32_t* bits, uint8_t* bytes, int64_t begin, int64_t end,
             const DropoutRule& r, T scale) {
  for_each_drawn_word(begin, end, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    store_mask_word(bits, bytes, i0, cnt, w);
    scale_word(x + i0, y + i0, w, cnt, scale);
  });
}

template <class T>
void backward(const T* dy, T* dx, const uint32_t* bits, const uint8_t* bytes, int64_t begin,
              int64_t end, const DropoutRule& r, T scale) {
  for_each_mask_word(begin, end, bits, bytes, r, [&](int64_t i0, uint32_t w) {
    scale_word(dy + i0, dx + i0, w, word_count(i0, end), scale);
  });
}

// The activation runs through the C math library one element at a time; the column index walks
// with the element instead of a division per element.
template <class T>
void bias_act_forward(const T* x, const T* bias, const T* res, T* y, uint32_t* bits,
                      uint8_t* bytes, int64_t begin, int64_t end, int64_t cols, int act,
                      const DropoutRule& r, T scale) {
  for_each_drawn_word(begin, end, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    store_mask_word(bits, bytes, i0, cnt, w);
    int64_t col = i0 % cols;
    for (int k = 0; k < cnt; ++k) {
      const int64_t i = i0 + k;
      T f, d;
      activation(act, x[i] + bias[col], f, d);
      T v = ((w >> k) & 1u) ? f * scale : T(0);
      if (res) v = v + res[i];
      y[i] = v;
      if (++col == cols) col = 0;
    }
  });
}

template <class T>
void bias_act_backward(const T* dy, const T* x, const T* bias, const uint32_t* bits,
                       const uint8_t* bytes, T* dx, double* acc, int64_t begin, int64_t end,
                       int64_t cols, int act, const DropoutRule& r, T scale) {
  for_each_mask_word(begin, end, bits, bytes, r, [&](int64_t i0, uint32_t w) {
    const int cnt = word_count(i0, end);
    int64_t col = i0 % cols;
    for (int k = 0; k < cnt; ++k) {
      const int64_t i = i0 + k;
      T g = T(0);
      if ((w >> k) & 1u) {
        T f, d;
        activation(act, x[i] + bias[col], f, d);
        g = (dy[i] * scale) * d;
      }
      dx[i] = g;
      acc[col] += double(g);  // rows in order: the sum does not depend on SIMD width or threads
      if (++col == cols) col = 0;
    }
  });
}

// Noise is drawn into y in L1-sized pieces by the very kernel regcore.random.normal uses (so
// the draws are bit-identical with it), then combined with x while the piece is still in cache.
template <class Tr, class T>
void noise(const T* x, T* y, int64_t begin, int64_t end, uint64_t seed, uint64_t offset, T mean,
           T std, int multiplicative) {
  constexpr int64_t PIECE = 2048;
  for (int64_t s = begin; s < end; s += PIECE) {
    const int64_t e = end - s < PIECE ? end : s + PIECE;
    stream_generate(y, s, e, seed, offset, Tr{mean, std});
    if (multiplicative) {
      for (int64_t i = s; i < e; ++i) y[i] = x[i] * y[i];
    } else {
      for (int64_t i = s; i < e; ++i) y[i] = x[i] + y[i];
    }
  }
}

}  // namespace

const cpu::DropoutTable& dropout_table() {
  static const cpu::DropoutTable table = {
      forward<float>,           forward<double>,
      backward<float>,          backward<double>,
      bias_act_forward<float>,  bias_act_forward<double>,
      bias_act_backward<float>, bias_act_backward<double>,
      noise<NormalF32Transform, float>, noise<NormalF64Transform, double>,
  };
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
