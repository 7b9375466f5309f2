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

}}  // namespace regcore::cpu
