#include "dropout_api.h"

#include <vector>

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

namespace {
template <class T> struct Kernels;
template <> struct Kernels<float> {
  static auto forward() { return active_dropout_table().forward_f32; }
  static auto backward() { return active_dropout_table().backward_f32; }
  static auto ba_forward() { return active_dropout_table().bias_act_forward_f32; }
  static auto ba_backward() { return active_dropout_table().bias_act_backward_f32; }
  static auto noise() { return active_dropout_table().noise_f32; }
};
template <> struct Kernels<double> {
  static auto forward() { return active_dropout_table().forward_f64; }
  static auto backward() { return active_dropout_table().backward_f64; }
  static auto ba_forward() { return active_dropout_table().bias_act_forward_f64; }
  static auto ba_backward() { return active_dropout_table().bias_act_backward_f64; }
  static auto noise() { return active_dropout_table().noise_f64; }
};

// kStreamChunk is a multiple of 32, so every chunk starts on a keep word.
static_assert(kStreamChunk % 64 == 0, "chunks must start on whole keep words");

// Rows per backward chunk: a multiple of 32 (so row starts are whole keep words for any cols)
// holding about kStreamChunk elements. Depends on cols only, never on the thread count.
int64_t rows_per_chunk(int64_t cols) {
  int64_t r = kStreamChunk / (cols > 0 ? cols : 1);
  r = (r + 31) / 32 * 32;
  return r < 32 ? 32 : r;
}
}  // namespace

template <class T>
void dropout_forward(const T* x, T* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, T scale) {
  auto k = Kernels<T>::forward();
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(x, y, bits, bytes, b, e, rule, scale); });
}

template <class T>
void dropout_backward(const T* dy, T* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, T scale) {
  auto k = Kernels<T>::backward();
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dy, dx, bits, bytes, b, e, rule, scale); });
}

template <class T>
void bias_act_forward(const T* x, const T* bias, const T* residual, T* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule,
                      T scale) {
  auto k = Kernels<T>::ba_forward();
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(x, bias, residual, y, bits, bytes, b, e, cols, act, rule, scale);
  });
}

template <class T>
void bias_act_backward(const T* dy, const T* x, const T* bias, const uint32_t* bits,
                       const uint8_t* bytes, T* dx, T* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, T scale) {
  auto k = Kernels<T>::ba_backward();
  const int64_t chunk = rows_per_chunk(cols) * cols;
  auto partials = parallel_chunk_partials<std::vector<double>>(n, chunk, [&](int64_t, int64_t b, int64_t e) {
    std::vector<double> acc(size_t(cols), 0.0);
    k(dy, x, bias, bits, bytes, dx, acc.data(), b, e, cols, act, rule, scale);
    return acc;
  });
  std::vector<double> total(size_t(cols), 0.0);
  for (const auto& p : partials)
    for (int64_t c = 0; c < cols; ++c) total[size_t(c)] += p[size_t(c)];
  for (int64_t c = 0; c < cols; ++c) dbias[c] = T(total[size_t(c)]);
}

template <class T>
void gaussian_noise(const T* x, T* y, int64_t n, uint64_t seed, uint64_t offset, T mean, T std,
                    bool multiplicative) {
  auto k = Kernels<T>::noise();
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(x, y, b, e, seed, offset, mean, std, multiplicative ? 1 : 0);
  });
}

#define REGCORE_DROPOUT_INSTANTIATE(T)                                                          \
  template void dropout_forward<T>(const T*, T*, uint32_t*, uint8_t*, int64_t, const DropoutRule&, T); \
  template void dropout_backward<T>(const T*, T*, const uint32_t*, const uint8_t*, int64_t,        \
                                    const DropoutRule&, T);                                        \
  template void bias_act_forward<T>(const T*, const T*, const T*, T*, uint32_t*, uint8_t*, int64_t, \
                                    int64_t, int, const DropoutRule&, T);                          \
  template void bias_act_backward<T>(const T*, const T*, const T*, const uint32_t*, const uint8_t*, \
                                     T*, T*, int64_t, int64_t, int, const DropoutRule&, T);        \
  template void gaussian_noise<T>(const T*, T*, int64_t, uint64_t, uint64_t, T, T, bool);
REGCORE_DROPOUT_INSTANTIATE(float)
REGCORE_DROPOUT_INSTANTIATE(double)
#undef REGCORE_DROPOUT_INSTANTIATE

}}  // namespace regcore::cpu
