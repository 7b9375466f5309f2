// The CUDA driver of a random transform (core/random_transforms.h): one thread per counter block,
// i.e. one Philox call serves E elements, stored with one 16-byte store when the output is
// aligned. Element i reads block offset + i/E, exactly as on the CPU.
#pragma once
#include "../core/random_transforms.h"
#include "launch.h"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

// One block's E outputs, stored with one 8- or 16-byte store (E = 2 float32 draws: 8 bytes).
template <class T, int E> struct alignas(sizeof(T) * E) Pack { T v[E]; };

// S: the storage type of out; the transform computes in Tr::out_t (float32 for a 16-bit S, rounded
// as it is stored by the core conversion, so the bits are the CPU's).
template <class Tr, class S>
__global__ void stream_generate_kernel(S* __restrict__ out, int64_t n, uint64_t seed, uint64_t offset, Tr tr,
                                       bool aligned) {
  using T = typename Tr::out_t;
  constexpr int E = Tr::E;
  static_assert(sizeof(S) * E == 16 || sizeof(S) * E == 8 || sizeof(S) * E == 4, "one block is one store");
  const StreamKey key = stream_key(seed);
  const int64_t nblocks = (n + E - 1) / E;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < nblocks; b += stride) {
    uint32_t w[4];
    stream_block(key, offset + uint64_t(b), w);
    T v[E];
    tr.apply(w, v);
    Pack<S, E> r;
#pragma unroll
    for (int k = 0; k < E; ++k) store_as(&r.v[k], v[k]);
    const int64_t i0 = b * E;
    if (aligned && i0 + E <= n) {
      *reinterpret_cast<Pack<S, E>*>(out + i0) = r;
    } else {
#pragma unroll
      for (int k = 0; k < E; ++k)
        if (i0 + k < n) out[i0 + k] = r.v[k];
    }
  }
}

template <class Tr, class S>
void launch_stream_generate(S* out, int64_t n, uint64_t seed, uint64_t offset, const Tr& tr, uintptr_t stream,
                            const char* name) {
  if (n <= 0) return;
  const int64_t nblocks = (n + Tr::E - 1) / Tr::E;
  const uintptr_t pack_bytes = sizeof(S) * Tr::E;
  const bool aligned = (reinterpret_cast<uintptr_t>(out) & (pack_bytes - 1)) == 0;
  stream_generate_kernel<Tr, S><<<::regcore::cuda::grid_for(nblocks), ::regcore::cuda::kThreads, 0,
                               ::regcore::cuda::as_stream(stream)>>>(out, n, seed, offset, tr, aligned);
  ::regcore::cuda::check_launch(name);
}

}  // namespace cuda_kernels
REGCORE_CORE_END
