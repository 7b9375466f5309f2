// Weight averaging on the GPU: a thin multi-tensor launch around core/average.h (the same formula
// as the CPU, built with --fmad=false, hence the same bits). The mode and factor are decided on
// the host from w rounded to the tensor's arithmetic type, exactly as the CPU kernels do.
#include "../core/average.h"
#include "average_api.h"
#include "launch.h"
#include "multi_tensor.cuh"

namespace regcore { namespace cuda {

namespace {

constexpr int kMaxTensors = 64;
constexpr int kMaxBlocks = 320;
constexpr int kAvgThreads = 512;
constexpr int64_t kAvgChunk = int64_t(1) << 16;  // elements per block, as the CPU's work items

template <class S>
struct AvgLaunch {
  S* a[kMaxTensors];
  const S* p[kMaxTensors];
  int64_t n[kMaxTensors];
  ChunkBlocks<kMaxBlocks> blocks;
  compute_t<S> f;  // avg_factor(w, mode)
  int32_t mode;    // AvgMode: copy, low or high
};
static_assert(sizeof(AvgLaunch<double>) <= 4000, "kernel parameter space is 4 KiB");

template <class S>
__global__ void __launch_bounds__(kAvgThreads) average_kernel(const AvgLaunch<S> tab) {
  using C = compute_t<S>;
  const int t = tab.blocks.block_tensor[blockIdx.x];
  const int64_t begin = int64_t(tab.blocks.block_chunk[blockIdx.x]) * kAvgChunk;
  const int64_t n = tab.n[t];
  const int64_t end = begin + kAvgChunk < n ? begin + kAvgChunk : n;
  S* __restrict__ a = tab.a[t];
  const S* __restrict__ p = tab.p[t];
  const AvgMode mode = AvgMode(tab.mode);
  if (mode == AvgMode::copy) {
    for (int64_t i = begin + threadIdx.x; i < end; i += kAvgThreads) a[i] = p[i];
    return;
  }
  const bool high = mode == AvgMode::high;
  for (int64_t i = begin + threadIdx.x; i < end; i += kAvgThreads)
    a[i] = S(avg_blend(C(a[i]), C(p[i]), tab.f, high));
}

template <class S>
void launch_average(const AvgTensor* ts, size_t count, double w64, cudaStream_t stream) {
  using C = compute_t<S>;
  const C w = C(w64);
  const AvgMode mode = avg_mode(w);
  if (mode == AvgMode::keep) return;
  AvgLaunch<S> tab;
  tab.f = avg_factor(w, mode);
  tab.mode = int32_t(mode);
  for_each_launch<kMaxTensors, kMaxBlocks>(
      count, kAvgChunk, tab.blocks,
      [&](size_t i) { return ts[i].dtype == dtype_of<S>() ? ts[i].n : int64_t(0); },
      [&](int slot, size_t i) {
        tab.a[slot] = static_cast<S*>(ts[i].avg);
        tab.p[slot] = static_cast<const S*>(ts[i].param);
        tab.n[slot] = ts[i].n;
      },
      [&](int nblocks) {
        average_kernel<S><<<nblocks, kAvgThreads, 0, stream>>>(tab);
        check_launch("average_update");
      });
}

}  // namespace

void average_multi(const AvgTensor* ts, size_t count, double w, uintptr_t stream_handle) {
  cudaStream_t stream = as_stream(stream_handle);
  // One table of launches per dtype: a launch's tensors share their element type.
  for_each_dtype([&](auto t) { launch_average<REGCORE_TAG_TYPE(t)>(ts, count, w, stream); });
}

}}  // namespace regcore::cuda
