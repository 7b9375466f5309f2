// Dropout family (csrc/cpu/dropout_api.h). Cases, rates, geometry and minimum bytes are shared
// with the CUDA cases in spec_dropout.h (docs/dropout.md, "Minimum bytes").
#include <cstdint>

#include "../cpu/dropout_api.h"
#include "buffer.h"
#include "spec_dropout.h"

namespace regcore { namespace bench {
namespace {

using namespace spec;  // NOLINT: the family's constants, masks and spec builders

cpu::DropoutRule rule_for(double p) { return cpu::DropoutRule{kSeed, 0, drop_threshold(p), 0}; }

template <class T>
struct MaskBufs {
  Buffer<uint32_t> bits;
  Buffer<uint8_t> bytes;
  Mask m;
  MaskBufs(Mask m_, int64_t n)
      : bits(m_ == kBits ? words(n) : 1, 0x5555'5555u), bytes(m_ == kBytes ? n : 1, uint8_t(1)), m(m_) {}
  uint32_t* b() { return m == kBits ? bits.data() : nullptr; }
  uint8_t* y() { return m == kBytes ? bytes.data() : nullptr; }
};

template <class T>
CaseSpec forward_case(Mask m, const char* dtype) {
  return on_backend(forward_spec<T>(m, dtype), "cpu", true, [m](int64_t n) {
    return make_run([x = Buffer<T>(n, value_of<T>(1)), y = Buffer<T>(n, value_of<T>(0)), k = MaskBufs<T>(m, n), n,
                     r = rule_for(kDropP), sc = compute_t<T>(drop_scale(kDropP))]() mutable {
      cpu::dropout_forward(dtype_of<T>(), x.data(), y.data(), k.b(), k.y(), n, r, sc);
    });
  });
}

template <class T>
CaseSpec backward_case(Mask m, const char* dtype) {
  return on_backend(backward_spec<T>(m, dtype), "cpu", true, [m](int64_t n) {
    return make_run([dy = Buffer<T>(n, value_of<T>(1)), dx = Buffer<T>(n, value_of<T>(0)), k = MaskBufs<T>(m, n), n,
                     r = rule_for(kDropP), sc = compute_t<T>(drop_scale(kDropP))]() mutable {
      cpu::dropout_backward(dtype_of<T>(), dy.data(), dx.data(), k.b(), k.y(), n, r, sc);
    });
  });
}

template <class T>
CaseSpec bias_act_forward_case(const char* act_name, int act, const char* dtype) {
  return on_backend(bias_act_forward_spec<T>(act_name, dtype), "cpu", true, [act](int64_t n) {
    return make_run([x = Buffer<T>(n, value_of<T>(0.25)), b = Buffer<T>(kCols, value_of<T>(0.125)), y = Buffer<T>(n),
                     bits = Buffer<uint32_t>(words(n)), n, act, r = rule_for(kBiasActP),
                     sc = compute_t<T>(drop_scale(kBiasActP))]() mutable {
      cpu::bias_act_forward(dtype_of<T>(), x.data(), b.data(), nullptr, y.data(), bits.data(), nullptr, n,
                               kCols, act, r, sc);
    });
  });
}

template <class T>
CaseSpec bias_act_backward_case(const char* act_name, int act, const char* dtype) {
  return on_backend(bias_act_backward_spec<T>(act_name, dtype), "cpu", true, [act](int64_t n) {
    return make_run([dy = Buffer<T>(n, value_of<T>(1)), x = Buffer<T>(n, value_of<T>(0.25)), b = Buffer<T>(kCols, value_of<T>(0.125)),
                     bits = Buffer<uint32_t>(words(n), 0x5555'5555u), dx = Buffer<T>(n),
                     db = Buffer<T>(kCols), n, act, r = rule_for(kBiasActP),
                     sc = compute_t<T>(drop_scale(kBiasActP))]() mutable {
      cpu::bias_act_backward(dtype_of<T>(), dy.data(), x.data(), b.data(), bits.data(), nullptr, dx.data(),
                                db.data(), n, kCols, act, r, sc);
    });
  });
}

template <class T>
CaseSpec noise_case(const char* dtype) {
  return on_backend(noise_spec<T>(dtype), "cpu", true, [](int64_t n) {
    return make_run([x = Buffer<T>(n, value_of<T>(1)), y = Buffer<T>(n), n]() mutable {
      cpu::gaussian_noise(dtype_of<T>(), x.data(), y.data(), n, kSeed, 0, 0.0, double(compute_t<T>(kNoiseStd)), false);
    });
  });
}

REGCORE_DROPOUT_REGISTER_CASES(float, "float32", f32)
REGCORE_DROPOUT_REGISTER_CASES(double, "float64", f64)
REGCORE_DROPOUT_REGISTER_HALF_CASES(bfloat16_t, "bfloat16", bf16)
// The fused bias + activation + dropout and the Gaussian noise in bfloat16 (CPU cases only).
const Register r_ba_fwd_relu_bf16{bias_act_forward_case<bfloat16_t>("relu", spec::ACT_RELU, "bfloat16")};
const Register r_ba_fwd_gelu_bf16{bias_act_forward_case<bfloat16_t>("gelu", spec::ACT_GELU_ERF, "bfloat16")};
const Register r_ba_bwd_relu_bf16{bias_act_backward_case<bfloat16_t>("relu", spec::ACT_RELU, "bfloat16")};
const Register r_ba_bwd_gelu_bf16{bias_act_backward_case<bfloat16_t>("gelu", spec::ACT_GELU_ERF, "bfloat16")};
const Register r_noise_bf16{noise_case<bfloat16_t>("bfloat16")};

}  // namespace
}}  // namespace regcore::bench
