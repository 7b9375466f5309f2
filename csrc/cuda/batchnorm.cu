// Batch normalization on the GPU: thin launches around core/batchnorm.h. The reductions
// (statistics, backward sums) are norm_reduce.cuh's deterministic per-channel reductions; the
// elementwise passes are grid-stride loops over the flat index.
//
// T is the storage type of x, y, dy, dx (every dtype); the element formulas run in compute_t<T>
// (float32 for __nv_bfloat16 / __half-sized 16-bit storage, loaded with elem_load and rounded once
// by elem_store, core/half.h: the same bits as the CPU), the type of the per-channel coefficients.
#include "../core/batchnorm.h"
#include "../core/norm_coef.h"
#include "batchnorm_api.h"
#include "launch.h"
#include "norm_reduce.cuh"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

// Accumulation policies: what one element adds to a thread's partial, and how partials combine.
template <class T> struct StatsPolicy {
  using Acc = Moments;
  using Op = ChanOp;
  __device__ static Acc zero() { return Moments{0.0, 0.0, 0.0}; }
  __device__ static void add(Acc& a, const T* x, const T*, int64_t j, int64_t, const BnCoefOf<compute_t<T>>&, bool) {
    welford_add(a, double(elem_load(x + j)));
  }
};
template <class T> struct GradPolicy {
  using Acc = Sum2;
  using Op = Sum2Op;
  __device__ static Acc zero() { return Sum2{0.0, 0.0}; }
  __device__ static void add(Acc& a, const T* x, const T* dy, int64_t j, int64_t c,
                             const BnCoefOf<compute_t<T>>& k, bool relu) {
    const compute_t<T> xc = bn_center(elem_load(x + j), k.mhi[c], k.mlo[c]);
    const compute_t<T> d = bn_masked_dy(elem_load(dy + j), xc, k.scale[c], k.shift[c], relu);
    a.a += double(d);
    a.b += double(d) * double(xc);
  }
};

template <class T, bool R>
__global__ void normalize_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t C, int64_t S,
                                 BnCoefOf<compute_t<T>> k) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t c = (j / S) % C;
    elem_store(y + j, bn_normalize(elem_load(x + j), k.mhi[c], k.mlo[c], k.scale[c], k.shift[c], R));
  }
}

template <class T, bool R>
__global__ void grad_apply_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, int64_t n,
                                  int64_t C, int64_t S, BnCoefOf<compute_t<T>> k, BnGradCoefOf<compute_t<T>> g) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t c = (j / S) % C;
    const compute_t<T> xc = bn_center(elem_load(x + j), k.mhi[c], k.mlo[c]);
    elem_store(dx + j, bn_backward_dx(bn_masked_dy(elem_load(dy + j), xc, k.scale[c], k.shift[c], R), xc, g.ka[c],
                                      g.kb[c], g.kc[c]));
  }
}

}  // namespace cuda_kernels
REGCORE_CORE_END

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

// (K, C) outputs: value k of channel c at out[k * C + c].
inline OutLayout per_channel_rows(int64_t C) { return OutLayout{1, C}; }

void bn_moments(DType dt, const void* x, int64_t N, int64_t C, int64_t S, double* out, uintptr_t stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    launch_reduce<StatsPolicy<T>, T>(static_cast<const T*>(x), nullptr, N, C, S, BnCoefOf<compute_t<T>>{}, false, out,
                                     per_channel_rows(C), as_stream(stream), finish_moments_kernel,
                                     "batch_norm_stats");
  });
}

void bn_normalize(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, const BnCoef& k, bool relu,
                  uintptr_t stream) {
  const int64_t n = N * C * S;
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    if (relu) normalize_kernel<T, true><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(px, py, n, C, S, coef_of<compute_t<T>>(k));
    else normalize_kernel<T, false><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(px, py, n, C, S, coef_of<compute_t<T>>(k));
  });
  check_launch("batch_norm normalize");
}

void bn_grad_reduce(DType dt, const void* dy, const void* x, int64_t N, int64_t C, int64_t S, const BnCoef& k,
                    bool relu, double* out, uintptr_t stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    launch_reduce<GradPolicy<T>, T>(static_cast<const T*>(x), static_cast<const T*>(dy), N, C, S, coef_of<compute_t<T>>(k), relu,
                                    out, per_channel_rows(C), as_stream(stream), finish_sums_kernel,
                                    "batch_norm_backward_reduce");
  });
}

void bn_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S,
                   const BnCoef& k, const BnGradCoef& g, bool relu, uintptr_t stream) {
  const int64_t n = N * C * S;
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    const T* pdy = static_cast<const T*>(dy);
    const T* px = static_cast<const T*>(x);
    T* pdx = static_cast<T*>(dx);
    if (relu)
      grad_apply_kernel<T, true><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(pdy, px, pdx, n, C, S, coef_of<compute_t<T>>(k),
                                                                                  coef_of<compute_t<T>>(g));
    else
      grad_apply_kernel<T, false><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(pdy, px, pdx, n, C, S, coef_of<compute_t<T>>(k),
                                                                                   coef_of<compute_t<T>>(g));
  });
  check_launch("batch_norm_backward_apply");
}

}}  // namespace regcore::cuda
