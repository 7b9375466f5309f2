// Deterministic per-channel reductions over an (N, C, S) view on the GPU, shared by the batch-norm
// (batchnorm.cu) and layer-norm (layernorm.cu) launches.
//
// Results do not depend on the GPU model or on timing:
//  * the work is cut in pieces fixed by the shape (rows: kRowsPiece channel-flat elements of one
//    channel per block; cols: rows_per rows x 32 channels per block);
//  * each thread accumulates its elements in a fixed order (Welford for statistics, float64 sums
//    otherwise), a block combines its threads with cub::BlockReduce (a fixed tree for a fixed
//    block size) or, in the cols layout, a fixed sequential merge of its 8 row lanes;
//  * per-piece partials go to a temporary [pieces][C] array and a second kernel combines them in
//    piece order. No float atomics anywhere.
// Channels-last / 2-D ((M, C) view, S == 1): a warp covers 32 consecutive channels of one row, so
// every load is coalesced along C.
//
// What one element contributes is a policy P: P::Acc (the partial), P::Op (how two partials
// merge), P::zero() and P::add(acc, x, dy, j, c, k, flag) for flat element j of channel c, with
// K the policy's coefficient struct.
#pragma once
#include <cub/block/block_reduce.cuh>

#include "../core/batchnorm.h"
#include "launch.h"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

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

// Where a finished channel's values go: value k of channel c at out[c * stride_c + k * stride_k]
// ((K, C) arrays: stride_c = 1, stride_k = C; (C, K) arrays: stride_c = K, stride_k = 1).
struct OutLayout {
  int64_t stride_c, stride_k;
};

// Rows layout (S > 1): block q = (channel c, piece p) reduces channel-flat [p*kRowsPiece, ...).
template <class P, class T, class K>
__global__ void __launch_bounds__(kRowsThreads) reduce_rows_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                                                   int64_t C, int64_t S, int64_t per_chan,
                                                                   int64_t pieces, K k, bool flag,
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
    P::add(acc, x, dy, (n * C + c) * S + s, c, k, flag);
  }
  const Acc total = Reduce(tmp).Reduce(acc, typename P::Op());
  if (threadIdx.x == 0) parts[p * C + c] = total;
}

// Cols layout (S == 1, (M, C)): block (channel tile, row piece); thread (tx, ty) walks rows
// r0 + ty, r0 + ty + 8, ... of channel tile*32 + tx; the 8 row lanes merge in order ty = 0..7.
template <class P, class T, class K>
__global__ void __launch_bounds__(kColsX * kColsY) reduce_cols_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                                                      int64_t M, int64_t C, int64_t rows_per, K k,
                                                                      bool flag, typename P::Acc* parts) {
  using Acc = typename P::Acc;
  __shared__ Acc lanes[kColsY][kColsX];
  const int64_t c = int64_t(blockIdx.x) * kColsX + threadIdx.x;
  const int64_t p = blockIdx.y;
  const int64_t r0 = p * rows_per, r1 = (r0 + rows_per < M) ? r0 + rows_per : M;
  Acc acc = P::zero();
  if (c < C)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kColsY) P::add(acc, x, dy, r * C + c, c, k, flag);
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    Acc t = lanes[0][threadIdx.x];
    typename P::Op op;
    for (int l = 1; l < kColsY; ++l) t = op(t, lanes[l][threadIdx.x]);
    parts[p * C + c] = t;
  }
}

// Combine the [pieces][C] partials in piece order. static: each including file gets its own copy.
static __global__ void finish_moments_kernel(const Moments* parts, int64_t pieces, int64_t C, double* out, OutLayout o) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    Moments t = parts[c];
    for (int64_t p = 1; p < pieces; ++p) t = chan_merge(t, parts[p * C + c]);
    out[c * o.stride_c] = t.n;
    out[c * o.stride_c + o.stride_k] = t.mean;
    out[c * o.stride_c + 2 * o.stride_k] = t.m2;
  }
}
static __global__ void finish_sums_kernel(const Sum2* parts, int64_t pieces, int64_t C, double* out, OutLayout o) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    double a = 0.0, b = 0.0;
    for (int64_t p = 0; p < pieces; ++p) {
      a += parts[p * C + c].a;
      b += parts[p * C + c].b;
    }
    out[c * o.stride_c] = a;
    out[c * o.stride_c + o.stride_k] = b;
  }
}

// One reduction: partials into temporary device memory (stream-ordered), then the fixed-order
// finish. `out` is written on the stream; nothing is synchronized.
template <class P, class T, class K, class Finish>
void launch_reduce(const T* x, const T* dy, int64_t N, int64_t C, int64_t S, K k, bool flag, double* out,
                   OutLayout layout, cudaStream_t st, Finish finish, const char* name) {
  using Acc = typename P::Acc;
  using ::regcore::cuda::check;
  if (C <= 0) return;
  if (S == 0) N = 0;  // an empty spatial extent: no elements, whatever N is
  int64_t pieces = 0, rows_per = 0;
  if (S > 1) {
    pieces = (N * S + kRowsPiece - 1) / kRowsPiece;
  } else {
    rows_per = (N + 65534) / 65535;  // grid.y <= 65535
    if (rows_per < kColsRowsMin) rows_per = kColsRowsMin;
    pieces = (N + rows_per - 1) / rows_per;
  }
  if (pieces == 0) pieces = 1;  // N*S == 0: one empty piece per channel
  Acc* parts = nullptr;
  check(cudaMallocAsync(reinterpret_cast<void**>(&parts), size_t(pieces * C) * sizeof(Acc), st), name);
  if (S > 1) {
    reduce_rows_kernel<P, T, K><<<unsigned(C * pieces), kRowsThreads, 0, st>>>(x, dy, C, S, N * S, pieces, k, flag,
                                                                               parts);
  } else {
    const dim3 grid(unsigned((C + kColsX - 1) / kColsX), unsigned(pieces));
    reduce_cols_kernel<P, T, K><<<grid, dim3(kColsX, kColsY), 0, st>>>(x, dy, N, C, rows_per, k, flag, parts);
  }
  ::regcore::cuda::check_launch(name);
  finish<<<::regcore::cuda::grid_for(C), ::regcore::cuda::kThreads, 0, st>>>(parts, pieces, C, out, layout);
  ::regcore::cuda::check_launch(name);
  check(cudaFreeAsync(parts, st), name);
}

}  // namespace cuda_kernels
REGCORE_CORE_END
