// Penalized SGD on the GPU: thin launches around core/sgd_rule.h (the same rule as the CPU,
// built with --fmad=false, hence the same bits) and the canonical 16-lane sums.
//
// The multi-tensor step passes a table of tensor pointers and sizes, plus a (tensor, chunk) entry
// per block, by value in the kernel parameters (under the classic 4 KiB limit), so a step over
// hundreds of tensors is a handful of launches and no host-to-device copy (the tables are filled
// by multi_tensor.cuh's for_each_launch, as weight averaging's).
//
// Storage types as on the CPU (cpu/kernels/sgd.cpp): SW of the updated weights, SG of the
// gradient, compute_t<SW> of the buffer; (S, S) for every dtype and (float, 16-bit) for a float32
// master. 16-bit values load and store through core/half.h, stochastic rounding is
// core/stochastic_round.h with element i's word of the `bits` draw (block sr_offset + i/4).
#include <type_traits>
#include <vector>

#include "../core/sgd_rule.h"
#include "../core/stochastic_round.h"
#include "../core/stream.h"
#include "launch.h"
#include "multi_tensor.cuh"
#include "sgd_api.h"

namespace regcore { namespace cuda {

namespace {

using ::regcore::cuda::check_launch;

constexpr int kMaxTensors = 40;
constexpr int kMaxBlocks = 320;
constexpr int kStepThreads = 512;

template <class S>
constexpr bool is_half_v = std::is_same<S, bfloat16_t>::value || std::is_same<S, float16_t>::value;

template <class SW, class SG>
struct StepTable {
  SW* w[kMaxTensors];
  const SG* g[kMaxTensors];
  compute_t<SW>* b[kMaxTensors];
  SG* out[kMaxTensors];           // the 16-bit parameters of a float32 master w written in the step
  int64_t n[kMaxTensors];
  uint64_t sr_offset[kMaxTensors];
  uint8_t first[kMaxTensors];
  ChunkBlocks<kMaxBlocks> blocks;
  SgdParams<compute_t<SW>> p;
  uint64_t seed;
};
static_assert(sizeof(StepTable<double, double>) <= 4000, "kernel parameter space is 4 KiB");

template <class SW, class SG>
__global__ void __launch_bounds__(kStepThreads) step_kernel(const StepTable<SW, SG> tab) {
  using C = compute_t<SW>;
  const int t = tab.blocks.block_tensor[blockIdx.x];
  const int64_t begin = int64_t(tab.blocks.block_chunk[blockIdx.x]) * kSgdChunk;
  const int64_t n = tab.n[t];
  const int64_t end = begin + kSgdChunk < n ? begin + kSgdChunk : n;
  SW* __restrict__ w = tab.w[t];
  const SG* __restrict__ g = tab.g[t];
  C* __restrict__ b = tab.b[t];
  SG* __restrict__ out = tab.out[t];
  const bool first = tab.first[t] != 0;
  const bool mom = (tab.p.flags & kSgdMomentum) != 0;
  const bool sr = is_half_v<SW> && (tab.p.flags & kSgdStochastic) != 0;
  const StreamKey key = stream_key(tab.seed);
  for (int64_t i = begin + threadIdx.x; i < end; i += kStepThreads) {
    C wv = elem_load(w + i), bv = (mom && !first) ? b[i] : C(0);
    sgd_rule(wv, elem_load(g + i), bv, first, tab.p);
    if (mom) b[i] = bv;
    if constexpr (is_half_v<SW>) {
      if (sr) {
        uint32_t words[4];
        stream_block(key, tab.sr_offset[t] + uint64_t(i / 4), words);
        wv = sr_format<SW>::round(wv, words[i % 4]);
      }
    }
    elem_store(w + i, wv);
    if constexpr (is_half_v<SG>) {
      if (out) elem_store(out + i, wv);
    }
  }
}

// One warp per neuron: lanes 0..15 each add their canonical lane (positions i = lane mod 16 of
// every segment, segments in outer order) sequentially, exactly as the CPU; shuffles then apply
// the fixed lane tree; all 32 lanes rescale (a 16-bit weight's product rounded to nearest even).
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
          const double v = double(elem_load(seg + i));
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
        for (int64_t i = lane; i < inner; i += 32) elem_store(seg + i, elem_load(seg + i) * st);
      }
    }
  }
}

// 16-bit parameters from their float32 master (tensors whose max-norm ran after the step).
template <class S>
__global__ void narrow_kernel(S* __restrict__ dst, const float* __restrict__ src, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    elem_store(dst + i, src[i]);
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
        const double v = double(elem_load(x + i));
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

// The storage types of tensor s's weights and gradient are (SW, SG).
template <class SW, class SG> bool has_types(const SgdTensor& s) {
  if (s.dtype != dtype_of<SW>()) return false;
  return s.half_out ? s.half_dtype == dtype_of<SG>() : std::is_same<SW, SG>::value;
}

template <class SW, class SG>
void launch_steps(const SgdTensor* ts, size_t count, const SgdHyper& h, cudaStream_t stream) {
  StepTable<SW, SG> tab;
  tab.p = sgd_params<compute_t<SW>>(h);
  tab.seed = h.seed;
  for_each_launch<kMaxTensors, kMaxBlocks>(
      count, kSgdChunk, tab.blocks,
      [&](size_t i) { return has_types<SW, SG>(ts[i]) ? ts[i].n : int64_t(0); },
      [&](int slot, size_t i) {
        const SgdTensor& s = ts[i];
        tab.w[slot] = static_cast<SW*>(s.w);
        tab.g[slot] = static_cast<const SG*>(s.g);
        tab.b[slot] = static_cast<compute_t<SW>*>(s.b);
        // Max-norm tensors get their 16-bit copy after the rescale, the others in the step.
        tab.out[slot] = (s.half_out && s.rows == 0) ? static_cast<SG*>(s.half_out) : nullptr;
        tab.n[slot] = s.n;
        tab.sr_offset[slot] = s.sr_offset;
        tab.first[slot] = s.first ? 1 : 0;
      },
      [&](int nblocks) {
        step_kernel<SW, SG><<<nblocks, kStepThreads, 0, stream>>>(tab);
        check_launch("sgd_step");
      });
}

}  // namespace

void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h, uintptr_t stream_handle) {
  cudaStream_t stream = as_stream(stream_handle);
  // One table of launches per (weight, gradient) type pair: a launch's tensors share them.
  for_each_dtype([&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    launch_steps<S, S>(ts, count, h, stream);
  });
  launch_steps<float, bfloat16_t>(ts, count, h, stream);
  launch_steps<float, float16_t>(ts, count, h, stream);
  for (size_t i = 0; i < count; ++i) {
    const SgdTensor& s = ts[i];
    if (s.rows == 0 || s.n == 0) continue;
    const unsigned blocks = grid_for(s.rows * 32);
    visit_dtype(s.dtype, [&](auto t) {
      using T = REGCORE_TAG_TYPE(t);
      max_norm_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<T*>(s.w), s.outer, s.rows, s.inner, h.max_norm);
    });
    check_launch("sgd_max_norm");
    if (s.half_out) {
      visit_dtype(s.half_dtype, [&](auto t) {
        using S = REGCORE_TAG_TYPE(t);
        if constexpr (is_half_v<S>)
          narrow_kernel<S><<<grid_for(s.n), kThreads, 0, stream>>>(static_cast<S*>(s.half_out),
                                                                   static_cast<const float*>(s.w), s.n);
      });
      check_launch("sgd_master_narrow");
    }
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
    visit_dtype(ts[i].dtype, [&](auto t) {
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
