// Channel (spatial) dropout and alpha dropout on the CPU (csrc/cpu/channel_dropout_api.h): the
// cases of spec_channel_dropout.h. Inputs are ones: the work does not depend on the values.
#include <cstdint>

#include "../cpu/channel_dropout_api.h"
#include "buffer.h"
#include "spec_channel_dropout.h"

namespace regcore { namespace bench {
namespace {

using namespace spec;  // NOLINT: the family's constants and spec builders

cpu::DropoutRule rule_for(double p) { return cpu::DropoutRule{kSeed, 0, drop_threshold(p), 0}; }

template <class T>
CaseSpec channel_case(const char* kernel, bool last, bool backward, const char* dtype) {
  return on_backend(channel_spec<T>(kernel, dtype), "cpu", true, [last, backward](int64_t n) {
    const int64_t dec = chan_decisions(n);
    return make_run([x = Buffer<T>(n, value_of<T>(1)), y = Buffer<T>(n), bits = Buffer<uint32_t>(words(dec), 0x5555'5555u),
                     n, dec, last, backward, r = rule_for(kChanP)]() mutable {
      const cpu::ChannelShape sh{kChanC, kChanS, last ? 1 : 0};
      const cpu::MaskedAffine f{drop_scale(kChanP), 0.0, 0.0, 0};
      cpu::channel_dropout(dtype_of<T>(), x.data(), y.data(), backward ? bits.data() : nullptr,
                           backward ? nullptr : bits.data(), dec / kChanC, sh, r, f);
    });
  });
}

template <class T>
CaseSpec alpha_case(const char* dtype) {
  return on_backend(alpha_spec<T>(dtype), "cpu", true, [](int64_t n) {
    return make_run([x = Buffer<T>(n, value_of<T>(1)), y = Buffer<T>(n), bits = Buffer<uint32_t>(words(n)), n,
                     r = rule_for(kAlphaP)]() mutable {
      const cpu::MaskedAffine f{1.0, 0.25, -1.5, 1};
      cpu::alpha_dropout_forward(dtype_of<T>(), x.data(), y.data(), bits.data(), n, r, f);
    });
  });
}

#define REGCORE_CHANNEL_REGISTER_CASES(T, DT, SUF)                                               \
  const Register r_ch_fwd_##SUF{channel_case<T>("channel2d_forward", false, false, DT)};        \
  const Register r_ch_bwd_##SUF{channel_case<T>("channel2d_backward", false, true, DT)};        \
  const Register r_ch_last_##SUF{channel_case<T>("channel2d_forward_last", true, false, DT)};   \
  const Register r_alpha_##SUF{alpha_case<T>(DT)};

REGCORE_CHANNEL_REGISTER_CASES(float, "float32", f32)
REGCORE_CHANNEL_REGISTER_CASES(double, "float64", f64)
REGCORE_CHANNEL_REGISTER_CASES(bfloat16_t, "bfloat16", bf16)

}  // namespace
}}  // namespace regcore::bench
