// Dropout family on the GPU. The counter layout is the CPU's (core/dropout.h): element i is kept
// iff word i%4 of block offset + i/4 is >= threshold.
//
// Thread <-> element mapping of the elementwise kernels: a warp owns 128 consecutive elements
// (4 keep words, 32 Philox blocks); lane t computes block 32*warp + t, i.e. elements 4t .. 4t+3
// of the warp's range, moved with 16-byte vector loads/stores. Building the mask words: ballot k
// (k = 0..3) has bit t = keep of element 4t + k, so keep word w (elements 32w .. 32w+31, lanes
// 8w .. 8w+7) takes byte w of every ballot and interleaves them: bit 4l + k <- bit 8w + l of
// ballot k. Lanes 0..3 each assemble one word and store it (one coalesced 16-byte write).
// Nothing depends on the grid: warps stride over 128-element tasks keyed to element indices.
#include "../core/dropout.h"
#include "../core/dtype.h"
#include "../core/random_transforms.h"
#include "dropout_api.h"
#include "launch.h"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

using ::regcore::cuda::DropoutRule;

// bit l of the low byte -> bit 4l (8 bits spread over 32).
__device__ __forceinline__ uint32_t spread4(uint32_t x) {
  x &= 0xFFu;
  x = (x | (x << 12)) & 0x000F000Fu;
  x = (x | (x << 6)) & 0x03030303u;
  x = (x | (x << 3)) & 0x11111111u;
  return x;
}

// Four keep bits of the thread's block (bit k = element 4t + k).
__device__ __forceinline__ uint32_t draw_nibble(const StreamKey& key, const DropoutRule& r, uint64_t block) {
  if (r.drop_all) return 0u;
  if (r.threshold == 0u) return 0xFu;
  uint32_t w[4];
  stream_block(key, r.offset + block, w);
  return uint32_t(w[0] >= r.threshold) | (uint32_t(w[1] >= r.threshold) << 1) |
         (uint32_t(w[2] >= r.threshold) << 2) | (uint32_t(w[3] >= r.threshold) << 3);
}

// The warp's four keep words from each lane's nibble; lane w < 4 gets word w.
__device__ __forceinline__ uint32_t warp_word(uint32_t nibble, int lane) {
  const uint32_t b0 = __ballot_sync(0xFFFFFFFFu, nibble & 1u);
  const uint32_t b1 = __ballot_sync(0xFFFFFFFFu, nibble & 2u);
  const uint32_t b2 = __ballot_sync(0xFFFFFFFFu, nibble & 4u);
  const uint32_t b3 = __ballot_sync(0xFFFFFFFFu, nibble & 8u);
  const int s = 8 * (lane & 3);
  return spread4(b0 >> s) | (spread4(b1 >> s) << 1) | (spread4(b2 >> s) << 2) | (spread4(b3 >> s) << 3);
}

template <class T> struct alignas(4 * sizeof(T)) Quad { T v[4]; };

// 4 elements from i0 (vector load when aligned and whole), zeros past n.
template <class T>
__device__ __forceinline__ Quad<T> load4(const T* p, int64_t i0, int64_t n, bool aligned) {
  Quad<T> q;
  if (aligned && i0 + 4 <= n) {
    if constexpr (sizeof(T) <= 4) {  // one 16-byte load (8 bytes for the 16-bit formats)
      q = *reinterpret_cast<const Quad<T>*>(p + i0);
    } else {  // two 16-byte loads
      const double2 a = reinterpret_cast<const double2*>(p + i0)[0];
      const double2 b = reinterpret_cast<const double2*>(p + i0)[1];
      q.v[0] = a.x; q.v[1] = a.y; q.v[2] = b.x; q.v[3] = b.y;
    }
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) q.v[k] = i0 + k < n ? p[i0 + k] : T{};
  }
  return q;
}
template <class T>
__device__ __forceinline__ void store4(T* p, int64_t i0, int64_t n, bool aligned, const Quad<T>& q) {
  if (aligned && i0 + 4 <= n) {
    if constexpr (sizeof(T) <= 4) {
      *reinterpret_cast<Quad<T>*>(p + i0) = q;
    } else {
      reinterpret_cast<double2*>(p + i0)[0] = make_double2(q.v[0], q.v[1]);
      reinterpret_cast<double2*>(p + i0)[1] = make_double2(q.v[2], q.v[3]);
    }
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k)
      if (i0 + k < n) p[i0 + k] = q.v[k];
  }
}

// Store the warp's mask: words by lanes 0..3 (pad bits past n zero), bytes 4 per lane.
__device__ __forceinline__ void store_mask(uint32_t* bits, uint8_t* bytes, int64_t task, int lane,
                                           uint32_t nibble, int64_t n, bool bytes_aligned) {
  const int64_t i0 = task * 128 + 4 * lane;
  if (i0 < n) nibble &= n - i0 >= 4 ? 0xFu : ((1u << (n - i0)) - 1u);
  else nibble = 0u;
  if (bits) {
    const uint32_t w = warp_word(nibble, lane);
    const int64_t q = task * 4 + lane;
    if (lane < 4 && 32 * q < n) bits[q] = w;
  }
  if (bytes && i0 < n) {
    if (bytes_aligned && i0 + 4 <= n) {
      *reinterpret_cast<uchar4*>(bytes + i0) =
          make_uchar4(nibble & 1u, (nibble >> 1) & 1u, (nibble >> 2) & 1u, (nibble >> 3) & 1u);
    } else {
      for (int k = 0; k < 4 && i0 + k < n; ++k) bytes[i0 + k] = uint8_t((nibble >> k) & 1u);
    }
  }
}

// The nibble of lane's 4 elements from bits / bytes / the stream.
__device__ __forceinline__ uint32_t mask_nibble(const uint32_t* bits, const uint8_t* bytes,
                                                const StreamKey& key, const DropoutRule& r,
                                                int64_t i0, int64_t n) {
  if (bits) return (bits[i0 / 32] >> (i0 % 32)) & 0xFu;
  if (bytes) {
    uint32_t m = 0;
    for (int k = 0; k < 4 && i0 + k < n; ++k) m |= uint32_t(bytes[i0 + k] != 0) << k;
    return m;
  }
  return draw_nibble(key, r, uint64_t(i0 / 4));
}

// Grid-stride over 128-element warp tasks; the loop bound is uniform across a warp (ballots
// need all 32 lanes).
#define REGCORE_WARP_TASKS(n)                                                               \
  const int lane = int(threadIdx.x & 31u);                                                  \
  const int64_t ntasks = ((n) + 127) / 128;                                                 \
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) / 32;                             \
  for (int64_t task = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; task < ntasks; \
       task += warps)

// y = keep ? x * scale : +0 in compute_t<T>, rounded once as it is stored (core/half.h) for the
// 16-bit formats: the CPU's bits.
template <class T>
__device__ __forceinline__ void scale_quad(Quad<T>& q, uint32_t nib, compute_t<T> scale) {
  using C = compute_t<T>;
#pragma unroll
  for (int k = 0; k < 4; ++k) elem_store(&q.v[k], ((nib >> k) & 1u) ? elem_load(&q.v[k]) * scale : C(0));
}

template <class T>
__global__ void dropout_forward_kernel(const T* __restrict__ x, T* __restrict__ y, uint32_t* bits,
                                       uint8_t* bytes, int64_t n, DropoutRule r, compute_t<T> scale,
                                       bool aligned, bool bytes_aligned) {
  const StreamKey key = stream_key(r.seed);
  REGCORE_WARP_TASKS(n) {
    const int64_t i0 = task * 128 + 4 * lane;
    const uint32_t nib = draw_nibble(key, r, uint64_t(i0 / 4));
    store_mask(bits, bytes, task, lane, nib, n, bytes_aligned);
    if (i0 < n) {
      Quad<T> q = load4(x, i0, n, aligned);
      scale_quad(q, nib, scale);
      store4(y, i0, n, aligned, q);
    }
  }
}

template <class T>
__global__ void dropout_backward_kernel(const T* __restrict__ dy, T* __restrict__ dx,
                                        const uint32_t* bits, const uint8_t* bytes, int64_t n,
                                        DropoutRule r, compute_t<T> scale, bool aligned) {
  const StreamKey key = stream_key(r.seed);
  REGCORE_WARP_TASKS(n) {
    const int64_t i0 = task * 128 + 4 * lane;
    if (i0 >= n) continue;
    const uint32_t nib = mask_nibble(bits, bytes, key, r, i0, n);
    Quad<T> q = load4(dy, i0, n, aligned);
    scale_quad(q, nib, scale);
    store4(dx, i0, n, aligned, q);
  }
}

template <class T>
__global__ void bias_act_forward_kernel(const T* __restrict__ x, const T* __restrict__ bias,
                                        const T* __restrict__ res, T* __restrict__ y,
                                        uint32_t* bits, uint8_t* bytes, int64_t n, int64_t cols,
                                        int act, DropoutRule r, compute_t<T> scale, bool bytes_aligned) {
  using C = compute_t<T>;   // 16-bit data: float32 math, y rounded once as stored
  const StreamKey key = stream_key(r.seed);
  REGCORE_WARP_TASKS(n) {
    const int64_t i0 = task * 128 + 4 * lane;
    const uint32_t nib = draw_nibble(key, r, uint64_t(i0 / 4));
    store_mask(bits, bytes, task, lane, nib, n, bytes_aligned);
    for (int k = 0; k < 4 && i0 + k < n; ++k) {
      const int64_t i = i0 + k;
      C f, d;
      activation(act, elem_load(x + i) + elem_load(bias + i % cols), f, d);
      C v = ((nib >> k) & 1u) ? f * scale : C(0);
      if (res) v = v + elem_load(res + i);
      elem_store(y + i, v);
    }
  }
}

// Backward with the dbias reduction fused and independent of the launch: thread (chunk, col)
// walks rows chunk*R .. chunk*R+R-1 of column col in order, writes dx and a float64 partial;
// a second kernel adds the partials of each column in chunk order. Lanes take consecutive
// columns (coalesced rows); each lane draws the block of its own element (neighbours may draw
// the same block: redundant arithmetic, not a different answer).
constexpr int64_t kBiasRows = 64;

template <class T>
__global__ void bias_act_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                         const T* __restrict__ bias, const uint32_t* bits,
                                         const uint8_t* bytes, T* __restrict__ dx,
                                         double* __restrict__ partial, int64_t rows, int64_t cols,
                                         int act, DropoutRule r, compute_t<T> scale) {
  using C = compute_t<T>;   // 16-bit data: float32 math; dbias sums the stored (rounded) dx
  const StreamKey key = stream_key(r.seed);
  const int64_t nchunks = (rows + kBiasRows - 1) / kBiasRows;
  const int64_t items = nchunks * cols;
  const int64_t n = rows * cols;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t it = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; it < items; it += stride) {
    const int64_t chunk = it / cols, col = it % cols;
    const int64_t r1 = (chunk + 1) * kBiasRows < rows ? (chunk + 1) * kBiasRows : rows;
    const C b = elem_load(bias + col);
    double acc = 0.0;
    for (int64_t row = chunk * kBiasRows; row < r1; ++row) {
      const int64_t i = row * cols + col;
      uint32_t keep;
      if (bits) keep = (bits[i / 32] >> (i % 32)) & 1u;
      else if (bytes) keep = bytes[i] != 0;
      else keep = (draw_nibble(key, r, uint64_t(i / 4)) >> (i % 4)) & 1u;
      C g = C(0);
      if (keep) {
        C f, d;
        activation(act, elem_load(x + i) + b, f, d);
        g = (elem_load(dy + i) * scale) * d;
      }
      elem_store(dx + i, g);
      acc += double(elem_load(dx + i));
    }
    partial[it] = acc;
    (void)n;
  }
}

template <class T>
__global__ void column_sum_kernel(const double* __restrict__ partial, T* __restrict__ dbias,
                                  int64_t nchunks, int64_t cols) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    double s = 0.0;
    for (int64_t k = 0; k < nchunks; ++k) s += partial[k * cols + c];
    elem_store_f64(dbias + c, s);   // rounded once (16-bit: via float32 rounded to odd)
  }
}

// Noise: one thread per counter block, the transform of regcore.random.normal, then x op noise.
template <class Tr, class T>
__global__ void noise_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, uint64_t seed,
                             uint64_t offset, Tr tr, bool multiplicative) {
  constexpr int E = Tr::E;
  const StreamKey key = stream_key(seed);
  const int64_t nblocks = (n + E - 1) / E;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < nblocks; b += stride) {
    uint32_t w[4];
    stream_block(key, offset + uint64_t(b), w);
    typename Tr::out_t z[E];   // compute_t<T>: float32 draws for 16-bit data, rounded once below
    tr.apply(w, z);
#pragma unroll
    for (int k = 0; k < E; ++k) {
      const int64_t i = b * E + k;
      if (i < n) elem_store(y + i, multiplicative ? elem_load(x + i) * z[k] : elem_load(x + i) + z[k]);
    }
  }
}

}  // namespace cuda_kernels
REGCORE_CORE_END

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

namespace {
bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
bool aligned4(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 3u) == 0; }
unsigned warp_grid(int64_t n) { return grid_for(((n + 127) / 128) * 32); }
}  // namespace

// The entry points: the dtype becomes the storage type S here, once per entry.
#define REGCORE_S REGCORE_TAG_TYPE(t)

void dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, double scale, uintptr_t stream) {
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_S;
    dropout_forward_kernel<S><<<warp_grid(n), kThreads, 0, as_stream(stream)>>>(
        static_cast<const S*>(x), static_cast<S*>(y), bits, bytes, n, rule, compute_t<S>(scale),
        aligned16(x) && aligned16(y), aligned4(bytes));
  });
  check_launch("dropout_forward");
}

void dropout_backward(DType dt, const void* dy, void* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, double scale, uintptr_t stream) {
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_S;
    dropout_backward_kernel<S><<<warp_grid(n), kThreads, 0, as_stream(stream)>>>(
        static_cast<const S*>(dy), static_cast<S*>(dx), bits, bytes, n, rule, compute_t<S>(scale),
        aligned16(dy) && aligned16(dx));
  });
  check_launch("dropout_backward");
}

void bias_act_forward(DType dt, const void* x, const void* bias, const void* residual, void* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule, double scale,
                      uintptr_t stream) {
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_S;
    bias_act_forward_kernel<S><<<warp_grid(n), kThreads, 0, as_stream(stream)>>>(
        static_cast<const S*>(x), static_cast<const S*>(bias), static_cast<const S*>(residual), static_cast<S*>(y),
        bits, bytes, n, cols, act, rule, compute_t<S>(scale), aligned4(bytes));
  });
  check_launch("bias_act_dropout_forward");
}

void bias_act_backward(DType dt, const void* dy, const void* x, const void* bias, const uint32_t* bits,
                       const uint8_t* bytes, void* dx, void* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, double scale, uintptr_t stream) {
  if (cols <= 0) return;
  const int64_t rows = n / cols;
  const int64_t nchunks = (rows + kBiasRows - 1) / kBiasRows;
  double* partial = nullptr;
  cudaStream_t s = as_stream(stream);
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_S;
    if (nchunks > 0) {
      check(cudaMallocAsync(reinterpret_cast<void**>(&partial), size_t(nchunks * cols) * sizeof(double), s),
            "cudaMallocAsync");
      bias_act_backward_kernel<S><<<grid_for(nchunks * cols), kThreads, 0, s>>>(
          static_cast<const S*>(dy), static_cast<const S*>(x), static_cast<const S*>(bias), bits, bytes,
          static_cast<S*>(dx), partial, rows, cols, act, rule, compute_t<S>(scale));
      check_launch("bias_act_dropout_backward");
    }
    column_sum_kernel<S><<<grid_for(cols), kThreads, 0, s>>>(partial, static_cast<S*>(dbias), nchunks, cols);
  });
  check_launch("bias_act_dropout_backward (dbias)");
  if (partial) check(cudaFreeAsync(partial, s), "cudaFreeAsync");
}

void gaussian_noise(DType dt, const void* x, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                    double std, bool multiplicative, uintptr_t stream) {
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_S;
    const auto tr = normal_transform<S>(mean, std);
    noise_kernel<<<grid_for((n + tr.E - 1) / tr.E), kThreads, 0, as_stream(stream)>>>(
        static_cast<const S*>(x), static_cast<S*>(y), n, seed, offset, tr, multiplicative);
  });
  check_launch("gaussian_noise");
}

#undef REGCORE_S

}}  // namespace regcore::cuda
