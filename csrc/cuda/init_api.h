// Whole-array weight-init kernels on a CUDA device (device pointers; stream as in launch.h).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cuda {

void fill_trunc_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double p_lo, double p_span,
                       double mean, double scale, double lo, double hi, uintptr_t stream);

}}  // namespace regcore::cuda
