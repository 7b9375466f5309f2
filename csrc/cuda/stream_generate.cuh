// The CUDA driver of a random transform (core/random_transforms.h): one thread per counter block,
// i.e. one Philox call serves E elements, stored with one 16-byte store when the output is
// aligned. Element i reads block offset + i/E, exactly as on the CPU.
#pragma once
#include "../core/random_transforms.h"
#include "launch.h"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

template <class T, int E> struct alignas(16) Pack { T v[E]; };

template <class Tr>
__global__ void stream_generate_kernel(typename Tr::out_t* __restrict__ out, int64_t n, uint64_t seed,
                                       uint64_t offset, Tr tr, bool aligned16) {
  using T = typename Tr::out_t;
  constexpr int E = Tr::E;
  static_assert(sizeof(T) * E == 16, "one block is one 16-byte store");
  const StreamKey key = stream_key(seed);
  const int64_t nblocks = (n + E - 1) / E;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < nblocks; b += stride) {
    uint32_t w[4];
    stream_block(key, offset + uint64_t(b), w);
    Pack<T, E> r;
    tr.apply(w, r.v);
    const int64_t i0 = b * E;
    if (aligned16 && i0 + E <= n) {
      *reinterpret_cast<Pack<T, E>*>(out + i0) = r;
    } else {
#pragma unroll
      for (int k = 0; k < E; ++k)
        if (i0 + k < n) out[i0 + k] = r.v[k];
    }
  }
}

template <class Tr>
void launch_stream_generate(typename Tr::out_t* out, int64_t n, uint64_t seed, uint64_t offset,
                            const Tr& tr, uintptr_t stream, const char* name) {
  if (n <= 0) return;
  const int64_t nblocks = (n + Tr::E - 1) / Tr::E;
  const bool aligned = (reinterpret_cast<uintptr_t>(out) & 15u) == 0;
  stream_generate_kernel<Tr><<<::regcore::cuda::grid_for(nblocks), ::regcore::cuda::kThreads, 0,
                               ::regcore::cuda::as_stream(stream)>>>(out, n, seed, offset, tr, aligned);
  ::regcore::cuda::check_launch(name);
}

}  // namespace cuda_kernels
REGCORE_CORE_END
