// Dropout family on the GPU (csrc/cuda/dropout_api.h): the same cases, names, sizes and minimum
// bytes as csrc/bench/cases_dropout.cpp (csrc/bench/spec_dropout.h). Inputs are zeros
// (cudaMemset): the work does not depend on the values.
#include <cstdint>

#include "../../cuda/dropout_api.h"
#include "../spec_dropout.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

using namespace spec;  // NOLINT: the family's constants, masks and spec builders

cuda::DropoutRule rule_for(double p) { return cuda::DropoutRule{kSeed, 0, drop_threshold(p), 0}; }

struct DeviceMask {
  DeviceBuffer<uint32_t> bits;
  DeviceBuffer<uint8_t> bytes;
  Mask m;
  DeviceMask(Mask m_, int64_t n) : bits(m_ == kBits ? words(n) : 1), bytes(m_ == kBytes ? n : 1), m(m_) {}
  uint32_t* b() { return m == kBits ? bits.data() : nullptr; }
  uint8_t* y() { return m == kBytes ? bytes.data() : nullptr; }
};

template <class T>
CaseSpec forward_case(Mask m, const char* dtype) {
  return on_backend(forward_spec<T>(m, dtype), "cuda", false, [m](int64_t n) {
    return make_cuda_run([x = DeviceBuffer<T>(n), y = DeviceBuffer<T>(n), k = DeviceMask(m, n), n,
                          r = rule_for(kDropP), sc = compute_t<T>(drop_scale(kDropP))](uintptr_t st) mutable {
      cuda::dropout_forward(dtype_of<T>(), x.data(), y.data(), k.b(), k.y(), n, r, sc, st);
    });
  });
}

template <class T>
CaseSpec backward_case(Mask m, const char* dtype) {
  return on_backend(backward_spec<T>(m, dtype), "cuda", false, [m](int64_t n) {
    return make_cuda_run([dy = DeviceBuffer<T>(n), dx = DeviceBuffer<T>(n), k = DeviceMask(m, n), n,
                          r = rule_for(kDropP), sc = compute_t<T>(drop_scale(kDropP))](uintptr_t st) mutable {
      cuda::dropout_backward(dtype_of<T>(), dy.data(), dx.data(), k.b(), k.y(), n, r, sc, st);
    });
  });
}

template <class T>
CaseSpec bias_act_forward_case(const char* act_name, int act, const char* dtype) {
  return on_backend(bias_act_forward_spec<T>(act_name, dtype), "cuda", false, [act](int64_t n) {
    return make_cuda_run([x = DeviceBuffer<T>(n), b = DeviceBuffer<T>(kCols), y = DeviceBuffer<T>(n),
                          bits = DeviceBuffer<uint32_t>(words(n)), n, act, r = rule_for(kBiasActP),
                          sc = T(drop_scale(kBiasActP))](uintptr_t st) mutable {
      cuda::bias_act_forward(dtype_of<T>(), x.data(), b.data(), nullptr, y.data(), bits.data(), nullptr, n,
                                kCols, act, r, sc, st);
    });
  });
}

template <class T>
CaseSpec bias_act_backward_case(const char* act_name, int act, const char* dtype) {
  return on_backend(bias_act_backward_spec<T>(act_name, dtype), "cuda", false, [act](int64_t n) {
    return make_cuda_run([dy = DeviceBuffer<T>(n), x = DeviceBuffer<T>(n), b = DeviceBuffer<T>(kCols),
                          bits = DeviceBuffer<uint32_t>(words(n), 0x55), dx = DeviceBuffer<T>(n),
                          db = DeviceBuffer<T>(kCols), n, act, r = rule_for(kBiasActP),
                          sc = T(drop_scale(kBiasActP))](uintptr_t st) mutable {
      cuda::bias_act_backward(dtype_of<T>(), dy.data(), x.data(), b.data(), bits.data(), nullptr, dx.data(),
                                 db.data(), n, kCols, act, r, sc, st);
    });
  });
}

template <class T>
CaseSpec noise_case(const char* dtype) {
  return on_backend(noise_spec<T>(dtype), "cuda", false, [](int64_t n) {
    return make_cuda_run([x = DeviceBuffer<T>(n), y = DeviceBuffer<T>(n), n](uintptr_t st) mutable {
      cuda::gaussian_noise(dtype_of<T>(), x.data(), y.data(), n, kSeed, 0, 0.0, double(T(kNoiseStd)), false, st);
    });
  });
}

REGCORE_DROPOUT_REGISTER_CASES(float, "float32", f32)
REGCORE_DROPOUT_REGISTER_CASES(double, "float64", f64)
REGCORE_DROPOUT_REGISTER_HALF_CASES(bfloat16_t, "bfloat16", bf16)

}  // namespace
}}  // namespace regcore::bench
