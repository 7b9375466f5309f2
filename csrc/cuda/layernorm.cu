// Layer normalization on the GPU over the (R, L) view: thin launches around core/batchnorm.h
// (ln_normalize, ln_backward_dx, bn_center), the same element formulas as the CPU kernels
// (csrc/cpu/kernels/layernorm.cpp). T is the storage type of x, y, dy, dx; the formulas and every
// coefficient array (gamma and beta included) are of compute_t<T> (float32 for 16-bit storage,
// loaded with elem_load, rounded once by elem_store).
//
// The backward sums come from two norm_reduce.cuh reductions: the per-row sums (for the row's dx
// coefficients) as the rows layout of the (1, R, L) view, a block per row piece; the per-column
// sums (dgamma, dbeta) as the cols layout of the (R, L) view, a warp along 32 columns of a row,
// so both read coalesced. That is one more read of dy and x than the CPU's single fused pass
// (which keeps its column sums in L1-resident rows); on large activations L2 does not hold them.
#include "../core/batchnorm.h"
#include "../core/norm_coef.h"
#include "launch.h"
#include "layernorm_api.h"
#include "norm_reduce.cuh"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

// The coefficients and the row length: flat element j = r * L + l.
template <class T> struct LnArgs {
  LnCoefOf<compute_t<T>> k;
  int64_t L;
};

// Per row r (the "channel" of the (1, R, L) view): sum g*dy and sum g*dy*xc, in float64 as the
// CPU kernel (gd rounded to T first).
template <class T> struct LnRowPolicy {
  using Acc = Sum2;
  using Op = Sum2Op;
  __device__ static Acc zero() { return Sum2{0.0, 0.0}; }
  __device__ static void add(Acc& a, const T* x, const T* dy, int64_t j, int64_t r, const LnArgs<T>& p, bool) {
    const int64_t l = j - r * p.L;
    const compute_t<T> xc = bn_center(elem_load(x + j), p.k.mhi[r], p.k.mlo[r]);
    const compute_t<T> gd = gamma_at(p.k.gamma, l) * elem_load(dy + j);
    a.a += double(gd);
    a.b += double(gd) * double(xc);
  }
};

// Per column l (the channel of the (R, L) cols view): sum dy * xhat and sum dy.
template <class T> struct LnColPolicy {
  using Acc = Sum2;
  using Op = Sum2Op;
  __device__ static Acc zero() { return Sum2{0.0, 0.0}; }
  __device__ static void add(Acc& a, const T* x, const T* dy, int64_t j, int64_t, const LnArgs<T>& p, bool) {
    const int64_t r = j / p.L;
    const compute_t<T> xhat = bn_center(elem_load(x + j), p.k.mhi[r], p.k.mlo[r]) * p.k.rstd[r];
    const compute_t<T> d = elem_load(dy + j);
    a.a += double(d) * double(xhat);
    a.b += double(d);
  }
};

template <class T>
__global__ void ln_normalize_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t L,
                                    LnCoefOf<compute_t<T>> k) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t r = j / L, l = j - r * L;
    elem_store(y + j, ln_normalize(elem_load(x + j), k.mhi[r], k.mlo[r], k.rstd[r], gamma_at(k.gamma, l),
                                   beta_at(k.beta, l)));
  }
}

template <class T>
__global__ void ln_grad_apply_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, int64_t n,
                                     int64_t L, LnCoefOf<compute_t<T>> k, const compute_t<T>* __restrict__ kb,
                                     const compute_t<T>* __restrict__ kc) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t r = j / L, l = j - r * L;
    elem_store(dx + j, ln_backward_dx(elem_load(dy + j), bn_center(elem_load(x + j), k.mhi[r], k.mlo[r]),
                                      gamma_at(k.gamma, l), k.rstd[r], kb[r], kc[r]));
  }
}

}  // namespace cuda_kernels
REGCORE_CORE_END

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

void ln_normalize(DType dt, const void* x, void* y, int64_t R, int64_t L, const LnCoef& k, uintptr_t stream) {
  const int64_t n = R * L;
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    ln_normalize_kernel<T><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(static_cast<const T*>(x),
                                                                           static_cast<T*>(y), n, L, coef_of<compute_t<T>>(k));
  });
  check_launch("layer_norm normalize");
}

void ln_grad_reduce(DType dt, const void* dy, const void* x, int64_t R, int64_t L, const LnCoef& k,
                    double* row_out, double* col_out, uintptr_t stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    const LnArgs<T> p{coef_of<compute_t<T>>(k), L};
    const T* px = static_cast<const T*>(x);
    const T* pdy = static_cast<const T*>(dy);
    // rows: channels = the R rows of the (1, R, L) view, written as (R, 2)
    launch_reduce<LnRowPolicy<T>, T>(px, pdy, 1, R, L, p, false, row_out, OutLayout{2, 1}, as_stream(stream),
                                     finish_sums_kernel, "layer_norm_backward row sums");
    // columns: channels = the L columns of the (R, L) view, written as (2, L)
    launch_reduce<LnColPolicy<T>, T>(px, pdy, R, L, 1, p, false, col_out, OutLayout{1, L}, as_stream(stream),
                                     finish_sums_kernel, "layer_norm_backward column sums");
  });
}

void ln_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, const LnCoef& k,
                   const void* kb, const void* kc, uintptr_t stream) {
  const int64_t n = R * L;
  if (n <= 0) return;
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    ln_grad_apply_kernel<T><<<grid_for(n), kThreads, 0, as_stream(stream)>>>(
        static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), n, L, coef_of<compute_t<T>>(k),
        static_cast<const compute_t<T>*>(kb), static_cast<const compute_t<T>*>(kc));
  });
  check_launch("layer_norm_backward apply");
}

}}  // namespace regcore::cuda
