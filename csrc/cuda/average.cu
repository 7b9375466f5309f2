// Weight averaging on the GPU: a thin multi-tensor launch around core/average.h (the same formula
// as the CPU, built with --fmad=false, hence the same bits). The mode and factor are decided on
// the host from w rounded to the tensor's arithmetic type, exactly as the CPU kernels do.
// Storage pairs (SA average, SP parameter) as on the CPU (cpu/kernels/average.cpp): core/average.h's
// visit_avg_pair, one set of launch tables per pair.
#include <type_traits>

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

template <class SA, class SP>
struct AvgLaunch {
  SA* a[kMaxTensors];
  const SP* p[kMaxTensors];
  int64_t n[kMaxTensors];
  ChunkBlocks<kMaxBlocks> blocks;
  compute_t<SA> f;  // avg_factor(w, mode)
  int32_t mode;     // AvgMode: copy, low or high
};
static_assert(sizeof(AvgLaunch<double, double>) <= 4000, "kernel parameter space is 4 KiB");

template <class SA, class SP>
__global__ void __launch_bounds__(kAvgThreads) average_kernel(const AvgLaunch<SA, SP> tab) {
  const int t = tab.blocks.block_tensor[blockIdx.x];
  const int64_t begin = int64_t(tab.blocks.block_chunk[blockIdx.x]) * kAvgChunk;
  const int64_t n = tab.n[t];
  const int64_t end = begin + kAvgChunk < n ? begin + kAvgChunk : n;
  SA* __restrict__ a = tab.a[t];
  const SP* __restrict__ p = tab.p[t];
  const AvgMode mode = AvgMode(tab.mode);
  if (mode == AvgMode::copy) {  // every bit of the same type; a narrower parameter widened exactly
    for (int64_t i = begin + threadIdx.x; i < end; i += kAvgThreads) {
      if constexpr (std::is_same<SA, SP>::value) a[i] = p[i];
      else elem_store(a + i, elem_load(p + i));
    }
    return;
  }
  const bool high = mode == AvgMode::high;
  for (int64_t i = begin + threadIdx.x; i < end; i += kAvgThreads)
    elem_store(a + i, avg_blend(elem_load(a + i), elem_load(p + i), tab.f, high));
}

template <class SA, class SP>
void launch_average(const AvgTensor* ts, size_t count, double w64, cudaStream_t stream) {
  using C = compute_t<SA>;
  static_assert(std::is_same<C, compute_t<SP>>::value, "an average pair computes in one type");
  const C w = C(w64);
  const AvgMode mode = avg_mode(w);
  if (mode == AvgMode::keep) return;
  AvgLaunch<SA, SP> tab;
  tab.f = avg_factor(w, mode);
  tab.mode = int32_t(mode);
  for_each_launch<kMaxTensors, kMaxBlocks>(
      count, kAvgChunk, tab.blocks,
      [&](size_t i) {
        const bool mine = ts[i].dtype == dtype_of<SA>() && ts[i].param_dtype == dtype_of<SP>();
        return mine ? ts[i].n : int64_t(0);
      },
      [&](int slot, size_t i) {
        tab.a[slot] = static_cast<SA*>(ts[i].avg);
        tab.p[slot] = static_cast<const SP*>(ts[i].param);
        tab.n[slot] = ts[i].n;
      },
      [&](int nblocks) {
        average_kernel<SA, SP><<<nblocks, kAvgThreads, 0, stream>>>(tab);
        check_launch("average_update");
      });
}

}  // namespace

void average_multi(const AvgTensor* ts, size_t count, double w, uintptr_t stream_handle) {
  cudaStream_t stream = as_stream(stream_handle);
  // One table of launches per storage pair: a launch's tensors share their element types.
  for_each_avg_pair([&](auto at, auto pt) {
    launch_average<REGCORE_TAG_TYPE(at), REGCORE_TAG_TYPE(pt)>(ts, count, w, stream);
  });
}

}}  // namespace regcore::cuda
