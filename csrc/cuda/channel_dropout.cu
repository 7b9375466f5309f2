// Channel (spatial) dropout and alpha dropout on the GPU: core/channel_dropout.h's decisions and
// masked affine map. Two launches: the keep words of the decisions (one thread per word of 32
// decisions, core keep_word: the CPU's scalar reference itself), then one pass over the data in
// which thread t owns 4 consecutive elements (16-byte vector loads/stores when aligned) and
// walks their decision indices incrementally (one 64-bit division per thread, not per element).
// A thread whose 4 elements are all dropped does not read x. Element-wise alpha dropout is the
// channels-first pass with one element per channel (batch 1, C = n, S = 1): decision i is stream
// element i, exactly dropout's keep rule.
#include "../core/channel_dropout.h"
#include "../core/dropout.h"
#include "../core/dtype.h"
#include "channel_dropout_api.h"
#include "launch.h"

REGCORE_CORE_BEGIN
namespace cuda_kernels {

using ::regcore::cuda::DropoutRule;

__global__ void keep_words_kernel(uint32_t* words, int64_t decisions, DropoutRule r) {
  const StreamKey key = stream_key(r.seed);
  const int64_t nwords = (decisions + 31) / 32;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; q < nwords; q += stride) {
    uint32_t w = keep_word(key, r.offset, uint64_t(q), r.threshold, r.drop_all);
    const int64_t left = decisions - 32 * q;
    if (left < 32) w &= (1u << left) - 1u;  // pad bits zero, as on the CPU
    words[q] = w;
  }
}

template <class S> struct alignas(4 * sizeof(S)) Quad4 { S v[4]; };

template <bool AFFINE, class S>
__global__ void channel_apply_kernel(const S* __restrict__ x, S* __restrict__ y, const uint32_t* __restrict__ keep,
                                     int64_t n, int64_t C, int64_t Sp, int layout, compute_t<S> s, compute_t<S> b,
                                     compute_t<S> d, bool aligned) {
  using T = compute_t<S>;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t nquads = (n + 3) / 4;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < nquads; t += stride) {
    const int64_t i0 = 4 * t;
    const int cnt = n - i0 < 4 ? int(n - i0) : 4;
    // decision index of element i0 and how it moves along the 4 elements
    int64_t k, pos;
    if (layout == CHANNELS_FIRST) {
      k = i0 / Sp;
      pos = i0 - k * Sp;  // position in the row of Sp elements
    } else {
      const int64_t per = Sp * C;
      const int64_t nn = i0 / per;
      pos = i0 % C;       // channel
      k = nn * C + pos;
    }
    uint32_t nib = 0;
    int64_t kk = k, pp = pos;
    for (int j = 0; j < cnt; ++j) {
      nib |= keep_bit_at(keep, kk) << j;
      if (layout == CHANNELS_FIRST) {
        if (++pp == Sp) { pp = 0; ++kk; }
      } else {
        ++pp;
        ++kk;
        if (pp == C) {  // next row: same sample's channel 0 unless the sample ends
          pp = 0;
          kk -= C;
          if ((i0 + j + 1) % (Sp * C) == 0) kk += C;
        }
      }
    }
    Quad4<S> q;
    const bool whole = aligned && cnt == 4;
    if (nib != 0) {
      if (whole) q = *reinterpret_cast<const Quad4<S>*>(x + i0);
      else
        for (int j = 0; j < cnt; ++j) q.v[j] = x[i0 + j];
    }
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (j < cnt) elem_store(&q.v[j], masked_affine<AFFINE, T>((nib >> j) & 1u, nib ? T(elem_load(&q.v[j])) : T(0), s, b, d));
    if (whole) *reinterpret_cast<Quad4<S>*>(y + i0) = q;
    else
      for (int j = 0; j < cnt; ++j) y[i0 + j] = q.v[j];
  }
}

}  // namespace cuda_kernels
REGCORE_CORE_END

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

namespace {
bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

void launch(DType dt, const void* x, void* y, const uint32_t* keep_in, uint32_t* keep_out, int64_t decisions,
            int64_t n, int64_t C, int64_t Sp, int layout, const DropoutRule& rule, double scale, double shift,
            double dropped, bool affine, uintptr_t stream) {
  cudaStream_t st = as_stream(stream);
  const uint32_t* keep = keep_in;
  uint32_t* scratch = nullptr;
  if (!keep) {
    const int64_t words = (decisions + 31) / 32;
    uint32_t* dst = keep_out;
    if (!dst && words > 0) {
      check(cudaMallocAsync(reinterpret_cast<void**>(&scratch), size_t(words) * sizeof(uint32_t), st),
            "cudaMallocAsync");
      dst = scratch;
    }
    if (words > 0) {
      keep_words_kernel<<<grid_for(words), kThreads, 0, st>>>(dst, decisions, rule);
      check_launch("channel_dropout (keep words)");
    }
    keep = dst;
  }
  if (n > 0) {
    visit_dtype(dt, [&](auto t) {
      using S = REGCORE_TAG_TYPE(t);
      using T = compute_t<S>;
      const bool al = aligned16(x) && aligned16(y);
      const unsigned grid = grid_for((n + 3) / 4);
      if (affine)
        channel_apply_kernel<true, S><<<grid, kThreads, 0, st>>>(static_cast<const S*>(x), static_cast<S*>(y), keep,
                                                                 n, C, Sp, layout, T(scale), T(shift), T(dropped), al);
      else
        channel_apply_kernel<false, S><<<grid, kThreads, 0, st>>>(static_cast<const S*>(x), static_cast<S*>(y), keep,
                                                                  n, C, Sp, layout, T(scale), T(shift), T(dropped), al);
    });
    check_launch("channel_dropout");
  }
  if (scratch) check(cudaFreeAsync(scratch, st), "cudaFreeAsync");
}
}  // namespace

void channel_dropout(DType dt, const void* x, void* y, const uint32_t* keep_in, uint32_t* keep_out, int64_t batch,
                     int64_t channels, int64_t spatial, bool channels_last, const DropoutRule& rule, double scale,
                     double shift, double dropped, bool affine, uintptr_t stream) {
  launch(dt, x, y, keep_in, keep_out, batch * channels, batch * channels * spatial, channels, spatial,
         channels_last ? CHANNELS_LAST : CHANNELS_FIRST, rule, scale, shift, dropped, affine, stream);
}

void alpha_dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, int64_t n, const DropoutRule& rule,
                           double scale, double shift, double dropped, uintptr_t stream) {
  launch(dt, x, y, nullptr, bits, n, n, n, 1, CHANNELS_FIRST, rule, scale, shift, dropped, true, stream);
}

}}  // namespace regcore::cuda
