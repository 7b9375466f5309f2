// Batch normalization on the GPU: thin launches around core/batchnorm.h. The reductions
// (statistics, backward sums) are norm_reduce.cuh's deterministic per-channel reductions; the
// elementwise passes are grid-stride loops over the flat index.
#include "../core/batchnorm.h"
#include "batchnorm_api.h"
#include "launch.h"
#include "norm_reduce.cuh"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

using cpu::BnCoef;
using cpu::BnGradCoef;

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

}  // namespace cuda_kernels
REGCORE_CORE_END

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

// (K, C) outputs: value k of channel c at out[k * C + c].
inline OutLayout per_channel_rows(int64_t C) { return OutLayout{1, C}; }

template <class T> void bn_moments(const T* x, int64_t N, int64_t C, int64_t S, double* out, uintptr_t stream) {
  launch_reduce<StatsPolicy<T>, T>(x, nullptr, N, C, S, BnCoef<T>{}, false, out, per_channel_rows(C),
                                   as_stream(stream), finish_moments_kernel, "batch_norm_stats");
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
  launch_reduce<GradPolicy<T>, T>(x, dy, N, C, S, k, relu, out, per_channel_rows(C), as_stream(stream),
                                  finish_sums_kernel, "batch_norm_backward_reduce");
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
