// Whole-array random fills on a CUDA device (pointers are device pointers; stream as in launch.h).
#pragma once
#include <cstdint>

namespace regcore { namespace cuda {

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream);
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float span, float hi, uintptr_t stream);
void fill_uniform(double* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span, double hi, uintptr_t stream);
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std, uintptr_t stream);
void fill_normal(double* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std, uintptr_t stream);

}}  // namespace regcore::cuda
