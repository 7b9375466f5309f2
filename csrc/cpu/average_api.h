// Weight averaging on the CPU: one running-average update over many (average, parameter) pairs
// in one parallel region of (tensor, chunk) work items (multi_tensor.h).
#pragma once
#include <cstddef>

#include "../core/average.h"

namespace regcore { namespace cpu {

using ::regcore::AvgTensor;

// avg_i <- avg_i + w * (param_i - avg_i) for every pair; w in [0, 1] (float64, rounded once per
// tensor to its arithmetic type). w rounding to 0 writes nothing.
void average_multi(const AvgTensor* ts, size_t count, double w);

}}  // namespace regcore::cpu
