// The weight-averaging kernel one ISA level provides (see random_table.h for the pattern): one
// entry, the dtype an argument. The baseline layer (average_api.cpp) cuts the tensors into fixed
// chunks; the kernel rounds w once to the tensor's arithmetic type (core/average.h).
#pragma once
#include <cstdint>

#include "../core/average.h"

namespace regcore { namespace cpu {

struct AverageTable {
  // avg[0, n) <- avg + w * (param - avg) in the two-sided form of core/average.h.
  void (*update)(DType dt, void* avg, const void* param, int64_t n, double w);
};

}}  // namespace regcore::cpu
