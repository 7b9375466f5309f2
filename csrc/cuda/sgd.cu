// Penalized SGD on the GPU: thin launches around core/sgd_rule.h (the same rule as the CPU,
// built with --fmad=false, hence the same bits) and the canonical 16-lane sums.
//
// The multi-tensor step passes a table of tensor pointers and sizes, plus a (tensor, chunk) entry
// per block, by value in the kernel parameters (under the classic 4 KiB limit), so a step over
// hundreds of tensors is a handful of launches and no host-to-device copy.
#include <vector>

#include "../core/sgd_rule.h"
#include "launch.h"
#include "sgd_api.h"

namespace regcore { namespace cuda {

namespace {

using ::regcore::cuda::check_launch;

constexpr int kMaxTensors = 48;
constexpr int kMaxBlocks = 320;
constexpr int kStepThreads = 512;

template <class T>
struct StepTable {
  T* w[kMaxTensors];
  const T* g[kMaxTensors];
  T* b[kMaxTensors];
  int64_t n[kMaxTensors];
  uint8_t first[kMaxTensors];
  uint8_t block_tensor[kMaxBlocks];
  int32_t block_chunk[kMaxBlocks];
  SgdParams<compute_t<T>> p;
};
static_assert(sizeof(StepTable<double>) <= 4000, "kernel parameter space is 4 KiB");

template <class T>
__global__ void __launch_bounds__(kStepThreads) step_kernel(const StepTable<T> tab) {
  const int t = tab.block_tensor[blockIdx.x];
  const int64_t begin = int64_t(tab.block_chunk[blockIdx.x]) * kSgdChunk;
  const int64_t n = tab.n[t];
  const int64_t end = begin + kSgdChunk < n ? begin + kSgdChunk : n;
  T* __restrict__ w = tab.w[t];
  const T* __restrict__ g = tab.g[t];
  T* __restrict__ b = tab.b[t];
  const bool first = tab.first[t] != 0;
  const bool mom = (tab.p.flags & kSgdMomentum) != 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kStepThreads) {
    T wv = w[i], bv = (mom && !first) ? b[i] : T(0);
    sgd_rule(wv, g[i], bv, first, tab.p);
    w[i] = wv;
    if (mom) b[i] = bv;
  }
}

// One warp per neuron: lanes 0..15 each add their canonical lane (positions i = lane mod 16 of
// every segment, segments in outer order) sequentially, exactly as the CPU; shuffles then apply
// the fixed lane tree; all 32 lanes rescale.
template <class T>
__global__ void max_norm_kernel(T* __restrict__ w, int64_t outer, int64_t rows, int64_t inner,
                                double c) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t j = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; j < rows; j += warps) {
    double acc = 0.0;
    if (lane < 16)
      for (int64_t o = 0; o < outer; ++o) {
        const T* seg = w + (o * rows + j) * inner;
        for (int64_t i = lane; i < inner; i += 16) {
          const double v = double(seg[i]);
          acc = acc + v * v;
        }
      }
    for (int h = 8; h >= 1; h >>= 1) {
      const double other = __shfl_down_sync(0xffffffffu, acc, h);
      if (lane < h) acc = acc + other;
    }
    const double s = __shfl_sync(0xffffffffu, sgd_max_norm_scale(acc, c), 0);
    if (s != 1.0) {
      const compute_t<T> st = compute_t<T>(s);
      for (int64_t o = 0; o < outer; ++o) {
        T* seg = w + (o * rows + j) * inner;
        for (int64_t i = lane; i < inner; i += 32) seg[i] = seg[i] * st;
      }
    }
  }
}

// One warp per chunk of kSgdChunk elements: the CPU's per-chunk lane sums, bit for bit.
template <class T>
__global__ void penalty_kernel(const T* __restrict__ x, int64_t n, double* __restrict__ part) {
  const int lane = threadIdx.x & 31;
  const int64_t nchunks = (n + kSgdChunk - 1) / kSgdChunk;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t q = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; q < nchunks; q += warps) {
    const int64_t begin = q * kSgdChunk;
    const int64_t end = begin + kSgdChunk < n ? begin + kSgdChunk : n;
    double a = 0.0, s = 0.0;
    if (lane < 16)
      for (int64_t i = begin + lane; i < end; i += 16) {
        const double v = double(x[i]);
        a = a + sgd_abs(v);
        s = s + v * v;
      }
    for (int h = 8; h >= 1; h >>= 1) {
      const double oa = __shfl_down_sync(0xffffffffu, a, h);
      const double os = __shfl_down_sync(0xffffffffu, s, h);
      if (lane < h) { a = a + oa; s = s + os; }
    }
    if (lane == 0) { part[2 * q] = a; part[2 * q + 1] = s; }
  }
}

template <class T>
void launch_steps(const SgdTensor* ts, size_t count, const SgdHyper& h, cudaStream_t stream) {
  StepTable<T> tab;
  tab.p = sgd_params<compute_t<T>>(h);
  int nt = 0, nb = 0;
  auto flush = [&] {
    if (nb > 0) {
      step_kernel<T><<<nb, kStepThreads, 0, stream>>>(tab);
      check_launch("sgd_step");
    }
    nt = 0;
    nb = 0;
  };
  for (size_t i = 0; i < count; ++i) {
    const SgdTensor& s = ts[i];
    if (s.n == 0 || s.dtype != dtype_of<T>()) continue;
    if (nt == kMaxTensors) flush();
    tab.w[nt] = static_cast<T*>(s.w);
    tab.g[nt] = static_cast<const T*>(s.g);
    tab.b[nt] = static_cast<T*>(s.b);
    tab.n[nt] = s.n;
    tab.first[nt] = s.first ? 1 : 0;
    const int64_t chunks = (s.n + kSgdChunk - 1) / kSgdChunk;
    for (int64_t c = 0; c < chunks; ++c) {
      if (nb == kMaxBlocks) {
        // The launch is full: run it and carry the current tensor over to the next table.
        const int slot = nt;
        flush();
        tab.w[0] = tab.w[slot]; tab.g[0] = tab.g[slot]; tab.b[0] = tab.b[slot];
        tab.n[0] = tab.n[slot]; tab.first[0] = tab.first[slot];
        nt = 0;
      }
      tab.block_tensor[nb] = uint8_t(nt);
      tab.block_chunk[nb] = int32_t(c);
      ++nb;
    }
    ++nt;
  }
  flush();
}

}  // namespace

void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h, uintptr_t stream_handle) {
  cudaStream_t stream = as_stream(stream_handle);
  // One table of launches per dtype: a launch's tensors share their element type.
  launch_steps<float>(ts, count, h, stream);
  launch_steps<double>(ts, count, h, stream);
  for (size_t i = 0; i < count; ++i) {
    const SgdTensor& s = ts[i];
    if (s.rows == 0 || s.n == 0) continue;
    const unsigned blocks = grid_for(s.rows * 32);
    visit_dtype_f32_f64(s.dtype, [&](auto t) {
      using T = REGCORE_TAG_TYPE(t);
      max_norm_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<T*>(s.w), s.outer, s.rows, s.inner, h.max_norm);
    });
    check_launch("sgd_max_norm");
  }
}

void penalty_sums(const PenaltyTensor* ts, size_t count, double& sum_abs, double& sum_sq,
                  uintptr_t stream_handle) {
  cudaStream_t stream = as_stream(stream_handle);
  std::vector<int64_t> first_chunk(count + 1, 0);
  for (size_t i = 0; i < count; ++i)
    first_chunk[i + 1] = first_chunk[i] + (ts[i].n + kSgdChunk - 1) / kSgdChunk;
  const int64_t total = first_chunk[count];
  sum_abs = 0.0;
  sum_sq = 0.0;
  if (total == 0) return;
  double* part = nullptr;
  check(cudaMallocAsync(reinterpret_cast<void**>(&part), size_t(2 * total) * sizeof(double), stream), "cudaMallocAsync");
  for (size_t i = 0; i < count; ++i) {
    if (ts[i].n == 0) continue;
    const int64_t chunks = first_chunk[i + 1] - first_chunk[i];
    const unsigned blocks = grid_for(chunks * 32);
    double* out = part + 2 * first_chunk[i];
    visit_dtype_f32_f64(ts[i].dtype, [&](auto t) {
      using T = REGCORE_TAG_TYPE(t);
      penalty_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<const T*>(ts[i].x), ts[i].n, out);
    });
    check_launch("penalty");
  }
  std::vector<double> host(size_t(2 * total));
  check(cudaMemcpyAsync(host.data(), part, host.size() * sizeof(double), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  check(cudaFreeAsync(part, stream), "cudaFreeAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  // (tensor, chunk) order, as on the CPU.
  double a = 0.0, s = 0.0;
  for (int64_t q = 0; q < total; ++q) { a = a + host[2 * q]; s = s + host[2 * q + 1]; }
  sum_abs = a;
  sum_sq = s;
}

}}  // namespace regcore::cuda
