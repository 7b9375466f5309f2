// Weight averaging on a CUDA device (device pointers; stream as in launch.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../core/average.h"

namespace regcore { namespace cuda {

// avg_i <- avg_i + w * (param_i - avg_i) for every pair (core/average.h), in launch tables of up
// to 64 tensors and 320 chunks of 65536 elements each (multi_tensor.cuh); a tensor's w rounds to
// its arithmetic type and a zero weight launches nothing.
void average_multi(const AvgTensor* ts, size_t count, double w, uintptr_t stream);

}}  // namespace regcore::cuda
