// Whole-array dropout-family kernels on a CUDA device (device pointers; stream as in launch.h).
// Same contract as csrc/cpu/dropout_api.h: masks bit-identical with every CPU path.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cuda {

struct DropoutRule {
  uint64_t seed;
  uint64_t offset;
  uint32_t threshold;  // keep iff word >= threshold
  uint32_t drop_all;   // 1 for p = 1 (threshold 2^32)
};

// dt (core/dtype.h) is the element type of every data array; scalars in float64, already rounded
// to dt's arithmetic type.
void dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, double scale, uintptr_t stream);
void dropout_backward(DType dt, const void* dy, void* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, double scale, uintptr_t stream);
void bias_act_forward(DType dt, const void* x, const void* bias, const void* residual, void* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule, double scale,
                      uintptr_t stream);
void bias_act_backward(DType dt, const void* dy, const void* x, const void* bias, const uint32_t* bits,
                       const uint8_t* bytes, void* dx, void* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, double scale, uintptr_t stream);
void gaussian_noise(DType dt, const void* x, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                    double std, bool multiplicative, uintptr_t stream);

}}  // namespace regcore::cuda
