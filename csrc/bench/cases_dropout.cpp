// Dropout family (csrc/cpu/dropout_api.h). The keep decision is drawn inside the kernel from the
// counter stream, so the minimum traffic is the data itself plus the stored mask: n/8 bytes for a
// bit mask, n for a byte mask, nothing when backward regenerates it (docs/dropout.md, "Minimum
// bytes"). Plain dropout runs at p = 0.5 (the worst case for a branchy mask); bias_act_dropout at
// p = 0.1 on (n/1024, 1024) activations (bias along the last axis), as a transformer MLP uses it.
#include <cmath>
#include <cstdint>

#include "../cpu/dropout_api.h"
#include "bench_case.h"
#include "buffer.h"

namespace regcore { namespace bench {
namespace {

constexpr uint64_t kSeed = 20240607;
constexpr int64_t kCols = 1024;
// Activation codes of core/dropout.h (Activation): relu, gelu with the exact erf.
constexpr int ACT_RELU = 1, ACT_GELU_ERF = 2;

// The rule of p (docs/dropout.md): keep iff word >= round(p 2^32); inverted scale 2^32 / kept.
cpu::DropoutRule rule_for(double p) {
  const double two32 = 4294967296.0;
  const double t = std::round(p * two32);
  return cpu::DropoutRule{kSeed, 0, uint32_t(t), 0};
}
double scale_for(double p) { return 4294967296.0 / (4294967296.0 - std::round(p * 4294967296.0)); }

int64_t words(int64_t n) { return (n + 31) / 32; }  // a bit mask is stored in uint32 words
int64_t bit_bytes(int64_t n) { return 4 * words(n); }
int64_t zero(int64_t) { return 0; }

enum Mask { kBits, kBytes, kNone };
const char* mask_name(Mask m) { return m == kBits ? "bits" : m == kBytes ? "bytes" : "none"; }
int64_t mask_bytes(Mask m, int64_t n) { return m == kBits ? bit_bytes(n) : m == kBytes ? n : 0; }

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
std::string formula(const char* head, Mask m, const char* tail) {
  std::string s = head;
  s += m == kBits ? " + n/8 (bits)" : m == kBytes ? " + n (bytes)" : "";
  return s + tail;
}

template <class T>
CaseSpec forward_case(Mask m, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("forward_") + mask_name(m), dtype, "cpu", true,
      formula<T>(s == 8 ? "read 8n + write 8n" : "read 4n + write 4n", m, ""),
      [m, s](int64_t n) { return 2 * s * n + mask_bytes(m, n); },
      m == kBits ? "n/8 (bit mask)" : m == kBytes ? "n (byte mask)" : "0 (seed, offset)",
      [m](int64_t n) { return mask_bytes(m, n); },
      "elements",
      [m](int64_t n) {
        return make_run([x = Buffer<T>(n, T(1)), y = Buffer<T>(n), k = MaskBufs<T>(m, n), n,
                         r = rule_for(0.5), sc = T(scale_for(0.5))]() mutable {
          cpu::dropout_forward<T>(x.data(), y.data(), k.b(), k.y(), n, r, sc);
        });
      }};
}

template <class T>
CaseSpec backward_case(Mask m, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("backward_") + mask_name(m), dtype, "cpu", true,
      formula<T>(s == 8 ? "read 8n" : "read 4n", m, s == 8 ? " + write 8n" : " + write 4n"),
      [m, s](int64_t n) { return 2 * s * n + mask_bytes(m, n); },
      "0", zero, "elements",
      [m](int64_t n) {
        return make_run([dy = Buffer<T>(n, T(1)), dx = Buffer<T>(n), k = MaskBufs<T>(m, n), n,
                         r = rule_for(0.5), sc = T(scale_for(0.5))]() mutable {
          cpu::dropout_backward<T>(dy.data(), dx.data(), k.b(), k.y(), n, r, sc);
        });
      }};
}

// bias_act_dropout with a bit mask and no residual: one pass forward, one pass backward with the
// dbias column sums fused (read dy, x, bias, bits; write dx, dbias).
template <class T>
CaseSpec bias_act_forward_case(const char* act_name, int act, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("bias_act_forward_") + act_name, dtype, "cpu", true,
      s == 8 ? "read 8n + 8C + write 8n + n/8 (bits), C = 1024" : "read 4n + 4C + write 4n + n/8 (bits), C = 1024",
      [s](int64_t n) { return 2 * s * n + s * kCols + bit_bytes(n); },
      "n/8 (bit mask; x and bias are referenced, not copied)", [](int64_t n) { return bit_bytes(n); },
      "elements",
      [act](int64_t n) {
        return make_run([x = Buffer<T>(n, T(0.25)), b = Buffer<T>(kCols, T(0.125)), y = Buffer<T>(n),
                         bits = Buffer<uint32_t>(words(n)), n, act, r = rule_for(0.1),
                         sc = T(scale_for(0.1))]() mutable {
          cpu::bias_act_forward<T>(x.data(), b.data(), nullptr, y.data(), bits.data(), nullptr, n,
                                   kCols, act, r, sc);
        });
      },
      {}, {}, "(n/1024, 1024)"};
}

template <class T>
CaseSpec bias_act_backward_case(const char* act_name, int act, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("bias_act_backward_") + act_name, dtype, "cpu", true,
      s == 8 ? "read 16n + 8C + n/8 (bits) + write 8n + 8C, C = 1024"
             : "read 8n + 4C + n/8 (bits) + write 4n + 4C, C = 1024",
      [s](int64_t n) { return 3 * s * n + 2 * s * kCols + bit_bytes(n); },
      "0", zero, "elements",
      [act](int64_t n) {
        return make_run([dy = Buffer<T>(n, T(1)), x = Buffer<T>(n, T(0.25)), b = Buffer<T>(kCols, T(0.125)),
                         bits = Buffer<uint32_t>(words(n), 0x5555'5555u), dx = Buffer<T>(n),
                         db = Buffer<T>(kCols), n, act, r = rule_for(0.1), sc = T(scale_for(0.1))]() mutable {
          cpu::bias_act_backward<T>(dy.data(), x.data(), b.data(), bits.data(), nullptr, dx.data(),
                                    db.data(), n, kCols, act, r, sc);
        });
      },
      {}, {}, "(n/1024, 1024)"};
}

// Additive Gaussian noise, std 0.1: read x, write y; the normal draw is computed, never stored.
template <class T>
CaseSpec noise_case(const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", "gaussian_noise", dtype, "cpu", true,
      s == 8 ? "read 8n + write 8n" : "read 4n + write 4n",
      [s](int64_t n) { return 2 * s * n; }, "0", zero, "elements",
      [](int64_t n) {
        return make_run([x = Buffer<T>(n, T(1)), y = Buffer<T>(n), n]() mutable {
          cpu::gaussian_noise<T>(x.data(), y.data(), n, kSeed, 0, T(0), T(0.1), false);
        });
      }};
}

#define REGCORE_DROPOUT_CASES(T, DT, SUF)                                                        \
  const Register r_fwd_bits_##SUF{forward_case<T>(kBits, DT)};                                  \
  const Register r_fwd_bytes_##SUF{forward_case<T>(kBytes, DT)};                                \
  const Register r_fwd_none_##SUF{forward_case<T>(kNone, DT)};                                  \
  const Register r_bwd_bits_##SUF{backward_case<T>(kBits, DT)};                                 \
  const Register r_bwd_bytes_##SUF{backward_case<T>(kBytes, DT)};                               \
  const Register r_bwd_none_##SUF{backward_case<T>(kNone, DT)};                                 \
  const Register r_ba_fwd_relu_##SUF{bias_act_forward_case<T>("relu", ACT_RELU, DT)};           \
  const Register r_ba_fwd_gelu_##SUF{bias_act_forward_case<T>("gelu", ACT_GELU_ERF, DT)};       \
  const Register r_ba_bwd_relu_##SUF{bias_act_backward_case<T>("relu", ACT_RELU, DT)};          \
  const Register r_ba_bwd_gelu_##SUF{bias_act_backward_case<T>("gelu", ACT_GELU_ERF, DT)};      \
  const Register r_noise_##SUF{noise_case<T>(DT)};

REGCORE_DROPOUT_CASES(float, "float32", f32)
REGCORE_DROPOUT_CASES(double, "float64", f64)

}  // namespace
}}  // namespace regcore::bench
