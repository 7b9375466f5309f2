// Whole-array dropout-family kernels on a CUDA device (device pointers; stream as in launch.h).
// Same contract as csrc/cpu/dropout_api.h: masks bit-identical with every CPU path.
#pragma once
#include <cstdint>

namespace regcore { namespace cuda {

struct DropoutRule {
  uint64_t seed;
  uint64_t offset;
  uint32_t threshold;  // keep iff word >= threshold
  uint32_t drop_all;   // 1 for p = 1 (threshold 2^32)
};

template <class T>
void dropout_forward(const T* x, T* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, T scale, uintptr_t stream);
template <class T>
void dropout_backward(const T* dy, T* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, T scale, uintptr_t stream);
template <class T>
void bias_act_forward(const T* x, const T* bias, const T* residual, T* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule,
                      T scale, uintptr_t stream);
template <class T>
void bias_act_backward(const T* dy, const T* x, const T* bias, const uint32_t* bits,
                       const uint8_t* bytes, T* dx, T* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, T scale, uintptr_t stream);
template <class T>
void gaussian_noise(const T* x, T* y, int64_t n, uint64_t seed, uint64_t offset, T mean, T std,
                    bool multiplicative, uintptr_t stream);

}}  // namespace regcore::cuda
