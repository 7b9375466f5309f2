// Dropout family on the GPU (csrc/cuda/dropout_api.h): the same cases, names, sizes and minimum
// bytes as csrc/bench/cases_dropout.cpp (p = 0.5 for plain dropout, p = 0.1 for bias_act_dropout
// on (n/1024, 1024) with a bit mask). Inputs are zeros (cudaMemset): the work does not depend on
// the values.
#include <cmath>
#include <string>

#include "../../cuda/dropout_api.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

constexpr uint64_t kSeed = 20240607;
constexpr int64_t kCols = 1024;
constexpr int ACT_RELU = 1, ACT_GELU_ERF = 2;  // core/dropout.h Activation

cuda::DropoutRule rule_for(double p) {
  return cuda::DropoutRule{kSeed, 0, uint32_t(std::round(p * 4294967296.0)), 0};
}
double scale_for(double p) { return 4294967296.0 / (4294967296.0 - std::round(p * 4294967296.0)); }
int64_t words(int64_t n) { return (n + 31) / 32; }
int64_t bit_bytes(int64_t n) { return 4 * words(n); }

enum Mask { kBits, kBytes, kNone };
const char* mask_name(Mask m) { return m == kBits ? "bits" : m == kBytes ? "bytes" : "none"; }
int64_t mask_bytes(Mask m, int64_t n) { return m == kBits ? bit_bytes(n) : m == kBytes ? n : 0; }

struct DeviceMask {
  DeviceBuffer<uint32_t> bits;
  DeviceBuffer<uint8_t> bytes;
  Mask m;
  DeviceMask(Mask m_, int64_t n) : bits(m_ == kBits ? words(n) : 1), bytes(m_ == kBytes ? n : 1), m(m_) {}
  uint32_t* b() { return m == kBits ? bits.data() : nullptr; }
  uint8_t* y() { return m == kBytes ? bytes.data() : nullptr; }
};

std::string with_mask(std::string head, Mask m, const char* tail) {
  head += m == kBits ? " + n/8 (bits)" : m == kBytes ? " + n (bytes)" : "";
  return head + tail;
}

template <class T>
CaseSpec forward_case(Mask m, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("forward_") + mask_name(m), dtype, "cuda", false,
      with_mask(s == 8 ? "read 8n + write 8n" : "read 4n + write 4n", m, ""),
      [m, s](int64_t n) { return 2 * s * n + mask_bytes(m, n); },
      m == kBits ? "n/8 (bit mask)" : m == kBytes ? "n (byte mask)" : "0 (seed, offset)",
      [m](int64_t n) { return mask_bytes(m, n); }, "elements",
      [m](int64_t n) {
        return make_cuda_run([x = DeviceBuffer<T>(n), y = DeviceBuffer<T>(n), k = DeviceMask(m, n), n,
                              r = rule_for(0.5), sc = T(scale_for(0.5))](uintptr_t st) mutable {
          cuda::dropout_forward<T>(x.data(), y.data(), k.b(), k.y(), n, r, sc, st);
        });
      }};
}

template <class T>
CaseSpec backward_case(Mask m, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("backward_") + mask_name(m), dtype, "cuda", false,
      with_mask(s == 8 ? "read 8n" : "read 4n", m, s == 8 ? " + write 8n" : " + write 4n"),
      [m, s](int64_t n) { return 2 * s * n + mask_bytes(m, n); }, "0", no_state, "elements",
      [m](int64_t n) {
        return make_cuda_run([dy = DeviceBuffer<T>(n), dx = DeviceBuffer<T>(n), k = DeviceMask(m, n), n,
                              r = rule_for(0.5), sc = T(scale_for(0.5))](uintptr_t st) mutable {
          cuda::dropout_backward<T>(dy.data(), dx.data(), k.b(), k.y(), n, r, sc, st);
        });
      }};
}

template <class T>
CaseSpec bias_act_forward_case(const char* act_name, int act, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("bias_act_forward_") + act_name, dtype, "cuda", false,
      s == 8 ? "read 8n + 8C + write 8n + n/8 (bits), C = 1024" : "read 4n + 4C + write 4n + n/8 (bits), C = 1024",
      [s](int64_t n) { return 2 * s * n + s * kCols + bit_bytes(n); },
      "n/8 (bit mask; x and bias are referenced, not copied)", [](int64_t n) { return bit_bytes(n); },
      "elements",
      [act](int64_t n) {
        return make_cuda_run([x = DeviceBuffer<T>(n), b = DeviceBuffer<T>(kCols), y = DeviceBuffer<T>(n),
                              bits = DeviceBuffer<uint32_t>(words(n)), n, act, r = rule_for(0.1),
                              sc = T(scale_for(0.1))](uintptr_t st) mutable {
          cuda::bias_act_forward<T>(x.data(), b.data(), nullptr, y.data(), bits.data(), nullptr, n,
                                    kCols, act, r, sc, st);
        });
      },
      {}, {}, "(n/1024, 1024)"};
}

template <class T>
CaseSpec bias_act_backward_case(const char* act_name, int act, const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", std::string("bias_act_backward_") + act_name, dtype, "cuda", false,
      s == 8 ? "read 16n + 8C + n/8 (bits) + write 8n + 8C, C = 1024"
             : "read 8n + 4C + n/8 (bits) + write 4n + 4C, C = 1024",
      [s](int64_t n) { return 3 * s * n + 2 * s * kCols + bit_bytes(n); }, "0", no_state, "elements",
      [act](int64_t n) {
        return make_cuda_run([dy = DeviceBuffer<T>(n), x = DeviceBuffer<T>(n), b = DeviceBuffer<T>(kCols),
                              bits = DeviceBuffer<uint32_t>(words(n), 0x55), dx = DeviceBuffer<T>(n),
                              db = DeviceBuffer<T>(kCols), n, act, r = rule_for(0.1),
                              sc = T(scale_for(0.1))](uintptr_t st) mutable {
          cuda::bias_act_backward<T>(dy.data(), x.data(), b.data(), bits.data(), nullptr, dx.data(),
                                     db.data(), n, kCols, act, r, sc, st);
        });
      },
      {}, {}, "(n/1024, 1024)"};
}

template <class T>
CaseSpec noise_case(const char* dtype) {
  const int64_t s = sizeof(T);
  return CaseSpec{
      "dropout", "gaussian_noise", dtype, "cuda", false,
      s == 8 ? "read 8n + write 8n" : "read 4n + write 4n",
      [s](int64_t n) { return 2 * s * n; }, "0", no_state, "elements",
      [](int64_t n) {
        return make_cuda_run([x = DeviceBuffer<T>(n), y = DeviceBuffer<T>(n), n](uintptr_t st) mutable {
          cuda::gaussian_noise<T>(x.data(), y.data(), n, kSeed, 0, T(0), T(0.1), false, st);
        });
      }};
}

#define REGCORE_DROPOUT_CUDA_CASES(T, DT, SUF)                                                   \
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

REGCORE_DROPOUT_CUDA_CASES(float, "float32", f32)
REGCORE_DROPOUT_CUDA_CASES(double, "float64", f64)

}  // namespace
}}  // namespace regcore::bench
