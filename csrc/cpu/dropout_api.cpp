#include "dropout_api.h"

#include <vector>

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

namespace {

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

void dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, double scale) {
  auto k = active_dropout_table().forward;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dt, x, y, bits, bytes, b, e, rule, scale); });
}

void dropout_backward(DType dt, const void* dy, void* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, double scale) {
  auto k = active_dropout_table().backward;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dt, dy, dx, bits, bytes, b, e, rule, scale); });
}

void bias_act_forward(DType dt, const void* x, const void* bias, const void* residual, void* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule, double scale) {
  auto k = active_dropout_table().bias_act_forward;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(dt, x, bias, residual, y, bits, bytes, b, e, cols, act, rule, scale);
  });
}

void bias_act_backward(DType dt, const void* dy, const void* x, const void* bias, const uint32_t* bits,
                       const uint8_t* bytes, void* dx, void* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, double scale) {
  auto k = active_dropout_table().bias_act_backward;
  const int64_t chunk = rows_per_chunk(cols) * cols;
  auto partials = parallel_chunk_partials<std::vector<double>>(n, chunk, [&](int64_t, int64_t b, int64_t e) {
    std::vector<double> acc(size_t(cols), 0.0);
    k(dt, dy, x, bias, bits, bytes, dx, acc.data(), b, e, cols, act, rule, scale);
    return acc;
  });
  std::vector<double> total(size_t(cols), 0.0);
  for (const auto& p : partials)
    for (int64_t c = 0; c < cols; ++c) total[size_t(c)] += p[size_t(c)];
  active_convert_table().from_f64(dt, total.data(), dbias, cols);
}

void gaussian_noise(DType dt, const void* x, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                    double std, bool multiplicative) {
  auto k = active_dropout_table().noise;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) {
    k(dt, x, y, b, e, seed, offset, mean, std, multiplicative ? 1 : 0);
  });
}

}}  // namespace regcore::cpu
