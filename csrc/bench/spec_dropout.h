// Dropout family's shared specification (cases_dropout.cpp, cuda/cases_dropout_cuda.cpp). The
// keep decision is drawn inside the kernel from the counter stream, so the minimum traffic is the
// data itself plus the stored mask: n/8 bytes for a bit mask, n for a byte mask, nothing when
// backward regenerates it (docs/dropout.md, "Minimum bytes"). Plain dropout runs at p = 0.5 (the
// worst case for a branchy mask); bias_act_dropout at p = 0.1 on (n/1024, 1024) activations (bias
// along the last axis), as a transformer MLP uses it.
#pragma once
#include <cmath>
#include <string>

#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

constexpr int64_t kCols = 1024;
// Activation codes of core/dropout.h (Activation): relu, gelu with the exact erf.
constexpr int ACT_RELU = 1, ACT_GELU_ERF = 2;
constexpr double kDropP = 0.5;     // plain dropout
constexpr double kBiasActP = 0.1;  // bias_act_dropout

// The rule of p (docs/dropout.md): keep iff word >= round(p 2^32); inverted scale 2^32 / kept.
inline uint32_t drop_threshold(double p) { return uint32_t(std::round(p * 4294967296.0)); }
inline double drop_scale(double p) { return 4294967296.0 / (4294967296.0 - std::round(p * 4294967296.0)); }

inline int64_t words(int64_t n) { return (n + 31) / 32; }  // a bit mask is stored in uint32 words
inline int64_t bit_bytes(int64_t n) { return 4 * words(n); }

enum Mask { kBits, kBytes, kNone };
inline const char* mask_name(Mask m) { return m == kBits ? "bits" : m == kBytes ? "bytes" : "none"; }
inline int64_t mask_bytes(Mask m, int64_t n) { return m == kBits ? bit_bytes(n) : m == kBytes ? n : 0; }

inline std::string with_mask(std::string head, Mask m, const char* tail) {
  head += m == kBits ? " + n/8 (bits)" : m == kBytes ? " + n (bytes)" : "";
  return head + tail;
}

inline CaseSpec dropout_base(std::string kernel, const char* dtype) {
  CaseSpec c{};
  c.family = "dropout";
  c.kernel = std::move(kernel);
  c.dtype = dtype;
  c.state_formula = "0";
  c.state_bytes = zero_state;
  c.items = "elements";
  return c;
}

template <class T>
CaseSpec forward_spec(Mask m, const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base(std::string("forward_") + mask_name(m), dtype);
  const std::string sn = std::to_string(s) + "n";
  c.bytes_formula = with_mask("read " + sn + " + write " + sn, m, "");
  c.min_bytes = [m, s](int64_t n) { return 2 * s * n + mask_bytes(m, n); };
  c.state_formula = m == kBits ? "n/8 (bit mask)" : m == kBytes ? "n (byte mask)" : "0 (seed, offset)";
  c.state_bytes = [m](int64_t n) { return mask_bytes(m, n); };
  return c;
}

template <class T>
CaseSpec backward_spec(Mask m, const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base(std::string("backward_") + mask_name(m), dtype);
  const std::string sn = std::to_string(s) + "n";
  c.bytes_formula = with_mask("read " + sn, m, (" + write " + sn).c_str());
  c.min_bytes = [m, s](int64_t n) { return 2 * s * n + mask_bytes(m, n); };
  return c;
}

// bias_act_dropout with a bit mask and no residual: one pass forward, one pass backward with the
// dbias column sums fused (read dy, x, bias, bits; write dx, dbias).
template <class T>
CaseSpec bias_act_forward_spec(const char* act_name, const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base(std::string("bias_act_forward_") + act_name, dtype);
  const std::string sn = std::to_string(s);
  c.bytes_formula = "read " + sn + "n + " + sn + "C + write " + sn + "n + n/8 (bits), C = 1024";
  c.min_bytes = [s](int64_t n) { return 2 * s * n + s * kCols + bit_bytes(n); };
  c.state_formula = "n/8 (bit mask; x and bias are referenced, not copied)";
  c.state_bytes = [](int64_t n) { return bit_bytes(n); };
  c.shape = "(n/1024, 1024)";
  return c;
}

template <class T>
CaseSpec bias_act_backward_spec(const char* act_name, const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base(std::string("bias_act_backward_") + act_name, dtype);
  const std::string sn = std::to_string(s);
  c.bytes_formula = "read " + std::to_string(2 * s) + "n + " + sn + "C + n/8 (bits) + write " + sn + "n + " + sn +
                    "C, C = 1024";
  c.min_bytes = [s](int64_t n) { return 3 * s * n + 2 * s * kCols + bit_bytes(n); };
  c.shape = "(n/1024, 1024)";
  return c;
}

// Additive Gaussian noise, std 0.1: read x, write y; the normal draw is computed, never stored.
constexpr double kNoiseStd = 0.1;

template <class T>
CaseSpec noise_spec(const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base("gaussian_noise", dtype);
  const std::string sn = std::to_string(s) + "n";
  c.bytes_formula = "read " + sn + " + write " + sn;
  c.min_bytes = [s](int64_t n) { return 2 * s * n; };
  return c;
}

}}}  // namespace regcore::bench::spec

// Registers the family's cases of one dtype, in registration order, as the case file builds them:
// it defines forward_case<T>(Mask, dtype), backward_case<T>(Mask, dtype),
// bias_act_forward_case<T>(act_name, act, dtype), bias_act_backward_case<T>(act_name, act, dtype)
// and noise_case<T>(dtype), then expands this once per dtype.
#define REGCORE_DROPOUT_REGISTER_CASES(T, DT, SUF)                                                \
  const Register r_fwd_bits_##SUF{forward_case<T>(spec::kBits, DT)};                             \
  const Register r_fwd_bytes_##SUF{forward_case<T>(spec::kBytes, DT)};                           \
  const Register r_fwd_none_##SUF{forward_case<T>(spec::kNone, DT)};                             \
  const Register r_bwd_bits_##SUF{backward_case<T>(spec::kBits, DT)};                            \
  const Register r_bwd_bytes_##SUF{backward_case<T>(spec::kBytes, DT)};                          \
  const Register r_bwd_none_##SUF{backward_case<T>(spec::kNone, DT)};                            \
  const Register r_ba_fwd_relu_##SUF{bias_act_forward_case<T>("relu", spec::ACT_RELU, DT)};      \
  const Register r_ba_fwd_gelu_##SUF{bias_act_forward_case<T>("gelu", spec::ACT_GELU_ERF, DT)};  \
  const Register r_ba_bwd_relu_##SUF{bias_act_backward_case<T>("relu", spec::ACT_RELU, DT)};     \
  const Register r_ba_bwd_gelu_##SUF{bias_act_backward_case<T>("gelu", spec::ACT_GELU_ERF, DT)}; \
  const Register r_noise_##SUF{noise_case<T>(DT)};
// The 16-bit formats: plain dropout (the kernels that take them, docs/precision.md).
#define REGCORE_DROPOUT_REGISTER_HALF_CASES(T, DT, SUF)                \
  const Register r_fwd_bits_##SUF{forward_case<T>(spec::kBits, DT)};   \
  const Register r_fwd_none_##SUF{forward_case<T>(spec::kNone, DT)};   \
  const Register r_bwd_bits_##SUF{backward_case<T>(spec::kBits, DT)};  \
  const Register r_bwd_none_##SUF{backward_case<T>(spec::kNone, DT)};
