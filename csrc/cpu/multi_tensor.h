// Work items of a multi-tensor call on the CPU: every tensor cut into fixed chunks of `chunk`
// elements, listed in (tensor, chunk) order. The boundaries depend only on the tensor sizes, so
// whichever thread runs an item computes the same bits, and per-item partial results combined in
// list order give one answer for any thread count. Empty tensors give no item.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace regcore { namespace cpu {

struct TensorChunk {
  int32_t t;            // index of the tensor in the caller's list
  int64_t begin, end;   // elements [begin, end) of it
};

// size_of(t) -> the element count of tensor t, for t in [0, count).
template <class SizeOf>
std::vector<TensorChunk> tensor_chunks(size_t count, int64_t chunk, SizeOf size_of) {
  std::vector<TensorChunk> items;
  for (size_t t = 0; t < count; ++t) {
    const int64_t n = size_of(t);
    for (int64_t b = 0; b < n; b += chunk) items.push_back({int32_t(t), b, b + chunk < n ? b + chunk : n});
  }
  return items;
}

// Consecutive items grouped into tasks of at most `chunk` elements in all (a full chunk is a task
// of its own): task q runs items [starts[q], starts[q + 1]). Small tensors (biases, batch-norm
// vectors) then share a task instead of each costing a claim on the thread pool; which thread
// runs an item still never changes what it computes.
inline std::vector<size_t> pack_items(const std::vector<TensorChunk>& items, int64_t chunk) {
  std::vector<size_t> starts = {0};
  int64_t filled = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t len = items[i].end - items[i].begin;
    if (filled > 0 && filled + len > chunk) {
      starts.push_back(i);
      filled = 0;
    }
    filled += len;
  }
  if (!items.empty()) starts.push_back(items.size());
  return starts;
}

}}  // namespace regcore::cpu
