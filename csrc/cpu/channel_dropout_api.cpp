#include "channel_dropout_api.h"

#include <vector>

#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

void channel_dropout(DType dt, const void* x, void* y, const uint32_t* keep_in, uint32_t* keep_out, int64_t batch,
                     const ChannelShape& shape, const DropoutRule& rule, const MaskedAffine& f) {
  const auto& table = active_channel_dropout_table();
  const int64_t decisions = batch * shape.channels;
  const int64_t n = decisions * shape.spatial;
  std::vector<uint32_t> scratch;
  const uint32_t* keep = keep_in;
  if (!keep) {
    const int64_t words = (decisions + 31) / 32;
    uint32_t* dst = keep_out;
    if (!dst) {
      scratch.resize(size_t(words));
      dst = scratch.data();
    }
    // N C / 32 words: a small fraction of the pass below; chunks of 2048 words (65536 decisions).
    parallel_chunks(words, kStreamChunk / 32, [&](int64_t q0, int64_t q1) {
      table.keep_words(dst, q0, q1, decisions, rule);
    });
    keep = dst;
  }
  if (n == 0) return;
  auto k = table.channel_apply;
  const int stream = n * int64_t(dtype_size(dt)) >= kStreamMinBytes ? 1 : 0;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dt, x, y, keep, b, e, shape, f, stream); });
}

void alpha_dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, int64_t n, const DropoutRule& rule,
                           const MaskedAffine& f) {
  auto k = active_channel_dropout_table().alpha_forward;
  parallel_chunks(n, kStreamChunk, [&](int64_t b, int64_t e) { k(dt, x, y, bits, b, e, rule, f); });
}

}}  // namespace regcore::cpu
