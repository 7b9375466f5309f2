// Launch tables of a multi-tensor kernel: each launch carries, by value in its parameters (no
// host-to-device copy), up to MaxT tensor slots and MaxB blocks, block b working on chunk
// block_chunk[b] of the tensor in slot block_tensor[b]. A tensor with more chunks than a launch
// has blocks left is split: the launch runs and the tensor is put again into slot 0 of the next.
#pragma once
#include <cstddef>
#include <cstdint>

namespace regcore { namespace cuda {

template <int MaxB>
struct ChunkBlocks {
  uint8_t block_tensor[MaxB];
  int32_t block_chunk[MaxB];
};

// n_of(i): elements of tensor i (0: not in these launches); put(slot, i): tensor i takes slot;
// launch(nblocks): run the table as filled so far.
template <int MaxT, int MaxB, class N, class Put, class Launch>
void for_each_launch(size_t count, int64_t chunk, ChunkBlocks<MaxB>& blocks, N n_of, Put put, Launch launch) {
  static_assert(MaxT <= 256, "block_tensor is a byte");
  int nt = 0, nb = 0;
  for (size_t i = 0; i < count; ++i) {
    const int64_t n = n_of(i);
    if (n == 0) continue;
    if (nt == MaxT) {
      launch(nb);
      nt = nb = 0;
    }
    put(nt, i);
    const int64_t chunks = (n + chunk - 1) / chunk;
    for (int64_t c = 0; c < chunks; ++c) {
      if (nb == MaxB) {
        launch(nb);
        nt = nb = 0;
        put(0, i);
      }
      blocks.block_tensor[nb] = uint8_t(nt);
      blocks.block_chunk[nb] = int32_t(c);
      ++nb;
    }
    ++nt;
  }
  if (nb > 0) launch(nb);
}

}}  // namespace regcore::cuda
