// Channel (spatial) dropout and alpha dropout on the GPU (csrc/cuda/channel_dropout_api.h): the
// same cases, names, sizes and minimum bytes as csrc/bench/cases_channel_dropout.cpp
// (spec_channel_dropout.h). Inputs are zeros (cudaMemset): the work does not depend on the values;
// the backward's stored decisions are 0x55 bytes (every other channel kept, as the CPU case's).
#include <cstdint>

#include "../../cuda/channel_dropout_api.h"
#include "../spec_channel_dropout.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

using namespace spec;  // NOLINT: the family's constants and spec builders

cuda::DropoutRule rule_for(double p) { return cuda::DropoutRule{kSeed, 0, drop_threshold(p), 0}; }

template <class T>
CaseSpec channel_case(const char* kernel, bool last, bool backward, const char* dtype) {
  return on_backend(channel_spec<T>(kernel, dtype), "cuda", false, [last, backward](int64_t n) {
    const int64_t dec = chan_decisions(n);
    return make_cuda_run([x = DeviceBuffer<T>(n), y = DeviceBuffer<T>(n), bits = DeviceBuffer<uint32_t>(words(dec), 0x55),
                          dec, last, backward, r = rule_for(kChanP)](uintptr_t st) mutable {
      cuda::channel_dropout(dtype_of<T>(), x.data(), y.data(), backward ? bits.data() : nullptr,
                            backward ? nullptr : bits.data(), dec / kChanC, kChanC, kChanS, last, r,
                            drop_scale(kChanP), 0.0, 0.0, false, st);
    });
  });
}

template <class T>
CaseSpec alpha_case(const char* dtype) {
  return on_backend(alpha_spec<T>(dtype), "cuda", false, [](int64_t n) {
    return make_cuda_run([x = DeviceBuffer<T>(n), y = DeviceBuffer<T>(n), bits = DeviceBuffer<uint32_t>(words(n)), n,
                          r = rule_for(kAlphaP)](uintptr_t st) mutable {
      cuda::alpha_dropout_forward(dtype_of<T>(), x.data(), y.data(), bits.data(), n, r, 1.0, 0.25, -1.5, st);
    });
  });
}

#define REGCORE_CHANNEL_CUDA_REGISTER_CASES(T, DT, SUF)                                          \
  const Register r_ch_fwd_##SUF{channel_case<T>("channel2d_forward", false, false, DT)};        \
  const Register r_ch_bwd_##SUF{channel_case<T>("channel2d_backward", false, true, DT)};        \
  const Register r_ch_last_##SUF{channel_case<T>("channel2d_forward_last", true, false, DT)};   \
  const Register r_alpha_##SUF{alpha_case<T>(DT)};

REGCORE_CHANNEL_CUDA_REGISTER_CASES(float, "float32", f32)
REGCORE_CHANNEL_CUDA_REGISTER_CASES(double, "float64", f64)

}  // namespace
}}  // namespace regcore::bench
