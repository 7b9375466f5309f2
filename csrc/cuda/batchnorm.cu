// Batch normalization on the GPU: thin launches around core/batchnorm.h.
//
// Reductions (statistics, backward sums) are deterministic and independent of the GPU model:
//  * the work is cut in pieces fixed by the shape (rows: kRowsPiece channel-flat elements of one
//    channel per block; cols: kColsRows rows x 32 channels per block);
//  * each thread accumulates its elements in a fixed order (Welford for the statistics, float64
//    sums for the backward), the block combines its threads with cub::BlockReduce (a fixed tree
//    for a fixed block size) or, in the cols layout, a fixed sequential merge of its 8 row lanes;
//  * per-piece partials go to a temporary [pieces][C] array and a second kernel combines them in
//    piece order (chan_merge / plain sums). No float atomics anywhere.
// Channels-last ((M, C) view): a warp covers 32 consecutive channels of one row, so every load
// is coalesced along C. Elementwise passes are grid-stride loops over the flat index.
#include <cub/block/block_reduce.cuh>

#include "../core/batchnorm.h"
#include "batchnorm_api.h"
#include "launch.h"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

using cpu::BnCoef;
using cpu::BnGradCoef;

constexpr int kRowsThreads = 256;
constexpr int64_t kRowsPiece = int64_t(1) << 14;
constexpr int kColsX = 32, kColsY = 8;
constexpr int64_t kColsRowsMin = 256;

struct Sum2 {
  double a, b;
};
struct ChanOp {
  __device__ Moments operator()(const Moments& u, const Moments& v) const { return chan_merge(u, v); }
};
struct Sum2Op {
  __device__ Sum2 operator()(const Sum2& u, const Sum2& v) const { return Sum2{u.a + v.a, u.b + v.b}; }
};

// Accumulation policies: what one element adds to a thread's partial, and how partials combine.
template <class T> struct StatsPolicy {
  using Acc = Moments;
  using Op = ChanOp;
  __device__ static Acc zero() { return Moments{0.0, 0.0, 0.0}; }
  __device__ static void add(Acc& a, const T* x, const T*, int64_t j, int64_t, const BnCoef<T>&, bool) {
    welford_add(a, double(x[j]));
  }
};
template <class T> struct GradPolicy {
  using Acc = Sum2;
  using Op = Sum2Op;
  __device__ static Acc zero() { return Sum2{0.0, 0.0}; }
  __device__ static void add(Acc& a, const T* x, const T* dy, int64_t j, int64_t c, const BnCoef<T>& k,
                             bool relu) {
    const T xc = bn_center(x[j], k.mhi[c], k.mlo[c]);
    const T d = bn_masked_dy(dy[j], xc, k.scale[c], k.shift[c], relu);
    a.a += double(d);
    a.b += double(d) * double(xc);
  }
};

// Rows layout (S > 1): block q = (channel c, piece p) reduces channel-flat [p*kRowsPiece, ...).
template <class P, class T>
__global__ void __launch_bounds__(kRowsThreads) reduce_rows_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                                                   int64_t C, int64_t S, int64_t per_chan,
                                                                   int64_t pieces, BnCoef<T> k, bool relu,
                                                                   typename P::Acc* parts) {
  using Acc = typename P::Acc;
  using Reduce = cub::BlockReduce<Acc, kRowsThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int64_t q = blockIdx.x;
  const int64_t c = q / pieces, p = q - c * pieces;
  const int64_t i0 = p * kRowsPiece;
  const int64_t i1 = (i0 + kRowsPiece < per_chan) ? i0 + kRowsPiece : per_chan;
  Acc acc = P::zero();
  for (int64_t i = i0 + threadIdx.x; i < i1; i += kRowsThreads) {
    const int64_t n = i / S, s = i - n * S;
    P::add(acc, x, dy, (n * C + c) * S + s, c, k, relu);
  }
  const Acc total = Reduce(tmp).Reduce(acc, typename P::Op());
  if (threadIdx.x == 0) parts[p * C + c] = total;
}

// Cols layout (S == 1, (M, C)): block (channel tile, row piece); thread (tx, ty) walks rows
// r0 + ty, r0 + ty + 8, ... of channel tile*32 + tx; the 8 row lanes merge in order ty = 0..7.
template <class P, class T>
__global__ void __launch_bounds__(kColsX * kColsY) reduce_cols_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                                                      int64_t M, int64_t C, int64_t rows_per,
                                                                      BnCoef<T> k, bool relu,
                                                                      typename P::Acc* parts) {
  using Acc = typename P::Acc;
  __shared__ Acc lanes[kColsY][kColsX];
  const int64_t c = int64_t(blockIdx.x) * kColsX + threadIdx.x;
  const int64_t p = blockIdx.y;
  const int64_t r0 = p * rows_per, r1 = (r0 + rows_per < M) ? r0 + rows_per : M;
  Acc acc = P::zero();
  if (c < C)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kColsY) P::add(acc, x, dy, r * C + c, c, k, relu);
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    Acc t = lanes[0][threadIdx.x];
    typename P::Op op;
    for (int l = 1; l < kColsY; ++l) t = op(t, lanes[l][threadIdx.x]);
    parts[p * C + c] = t;
  }
}

// Combine the [pieces][C] partials in piece order.
__global__ void finish_moments_kernel(const Moments* parts, int64_t pieces, int64_t C, double* out) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    Moments t = parts[c];
    for (int64_t p = 1; p < pieces; ++p) t = chan_merge(t, parts[p * C + c]);
    out[c] = t.n;
    out[C + c] = t.mean;
    out[2 * C + c] = t.m2;
  }
}
__global__ void finish_sums_kernel(const Sum2* parts, int64_t pieces, int64_t C, double* out) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    double a = 0.0, b = 0.0;
    for (int64_t p = 0; p < pieces; ++p) {
      a += parts[p * C + c].a;
      b += parts[p * C + c].b;
    }
    out[c] = a;
    out[C + c] = b;
  }
}

template <class T, bool R>
__global__ void normalize_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t C, int64_t S,
                                 BnCoef<T> k) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t c = (j / S) % C;
    y[j] = bn_normalize(x[j], k.mhi[c], k.mlo[c], k.scale[c], k.shift[c], R);
  }
}

template <class T, bool R>
__global__ void grad_apply_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, int64_t n,
                                  int64_t C, int64_t S, BnCoef<T> k, BnGradCoef<T> g) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t c = (j / S) % C;
    const T xc = bn_center(x[j], k.mhi[c], k.mlo[c]);
    dx[j] = bn_backward_dx(bn_masked_dy(dy[j], xc, k.scale[c], k.shift[c], R), xc, g.ka[c], g.kb[c], g.kc[c]);
  }
}

// Both reductions: partials into temporary device memory (stream-ordered), then the fixed-order
// finish. Returns nothing; `out` is written on the stream.
template <class P, class T, class Finish>
void launch_reduce(const T* x, const T* dy, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu, double* out,
                   cudaStream_t st, Finish finish, const char* name) {
  using Acc = typename P::Acc;
  using ::regcore::cuda::check;
  if (S == 0) N = 0;  // an empty spatial extent: no elements, whatever N is
  int64_t pieces;
  if (S > 1) pieces = (N * S + kRowsPiece - 1) / kRowsPiece;
  else pieces = 0;
  int64_t rows_per = 0;
  if (S <= 1) {
    rows_per = (N + 65534) / 65535;  // grid.y <= 65535
    if (rows_per < kColsRowsMin) rows_per = kColsRowsMin;
    pieces = (N + rows_per - 1) / rows_per;
  }
  if (pieces == 0) pieces = 1;  // N*S == 0: one empty piece per channel
  Acc* parts = nullptr;
  check(cudaMallocAsync(reinterpret_cast<void**>(&parts), size_t(pieces * C) * sizeof(Acc), st), name);
  if (S > 1) {
    reduce_rows_kernel<P, T><<<unsigned(C * pieces), kRowsThreads, 0, st>>>(x, dy, C, S, N * S, pieces, k, relu, parts);
  } else {
    const dim3 grid(unsigned((C + kColsX - 1) / kColsX), unsigned(pieces));
    reduce_cols_kernel<P, T><<<grid, dim3(kColsX, kColsY), 0, st>>>(x, dy, N, C, rows_per, k, relu, parts);
  }
  ::regcore::cuda::check_launch(name);
  finish<<<::regcore::cuda::grid_for(C), ::regcore::cuda::kThreads, 0, st>>>(parts, pieces, C, out);
  ::regcore::cuda::check_launch(name);
  check(cudaFreeAsync(parts, st), name);
}

}  // namespace cuda_kernels
REGCORE_CORE_END

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

template <class T> void bn_moments(const T* x, int64_t N, int64_t C, int64_t S, double* out, uintptr_t stream) {
  if (C <= 0) return;
  launch_reduce<StatsPolicy<T>, T>(x, nullptr, N, C, S, BnCoef<T>{}, false, out, as_stream(stream),
                                   finish_moments_kernel, "batch_norm_stats");
}

template <class T>
void bn_normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu, uintptr_t stream) {
  const int64_t n = N * C * S;
  if (n <= 0) return;
  if (relu) normalize_kernel<T, true><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(x, y, n, C, S, k);
  else normalize_kernel<T, false><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(x, y, n, C, S, k);
  check_launch("batch_norm normalize");
}

template <class T>
void bn_grad_reduce(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, BnCoef<T> k, bool relu, double* out,
                    uintptr_t stream) {
  if (C <= 0) return;
  launch_reduce<GradPolicy<T>, T>(x, dy, N, C, S, k, relu, out, as_stream(stream), finish_sums_kernel,
                                  "batch_norm_backward_reduce");
}

template <class T>
void bn_grad_apply(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, BnCoef<T> k, BnGradCoef<T> g,
                   bool relu, uintptr_t stream) {
  const int64_t n = N * C * S;
  if (n <= 0) return;
  if (relu) grad_apply_kernel<T, true><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(dy, x, dx, n, C, S, k, g);
  else grad_apply_kernel<T, false><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(dy, x, dx, n, C, S, k, g);
  check_launch("batch_norm_backward_apply");
}

#define REGCORE_BN_CUDA_INSTANTIATE(T)                                                                  \
  template void bn_moments<T>(const T*, int64_t, int64_t, int64_t, double*, uintptr_t);                 \
  template void bn_normalize<T>(const T*, T*, int64_t, int64_t, int64_t, BnCoef<T>, bool, uintptr_t);   \
  template void bn_grad_reduce<T>(const T*, const T*, int64_t, int64_t, int64_t, BnCoef<T>, bool,       \
                                  double*, uintptr_t);                                                  \
  template void bn_grad_apply<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, BnCoef<T>,          \
                                 BnGradCoef<T>, bool, uintptr_t);
REGCORE_BN_CUDA_INSTANTIATE(float)
REGCORE_BN_CUDA_INSTANTIATE(double)
#undef REGCORE_BN_CUDA_INSTANTIATE

}}  // namespace regcore::cuda
