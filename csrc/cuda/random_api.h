// Whole-array random fills on a CUDA device (pointers are device pointers; stream as in launch.h).
// out's element type is dt (core/dtype.h); parameters as in csrc/cpu/random_api.h.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cuda {

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream);
void fill_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span, double hi,
                  uintptr_t stream);
void fill_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std,
                 uintptr_t stream);

}}  // namespace regcore::cuda
