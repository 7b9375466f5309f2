// The weight-averaging kernel one ISA level provides (see random_table.h for the pattern): one
// entry, the storage pair read from the tensor. The baseline layer (average_api.cpp) cuts the
// tensors into fixed chunks; the kernel rounds w once to the average's arithmetic type
// (core/average.h).
#pragma once
#include <cstdint>

#include "../core/average.h"

namespace regcore { namespace cpu {

struct AverageTable {
  // Elements [begin, end) of t: avg <- avg + w * (param - avg) in the two-sided form of
  // core/average.h. t's (dtype, param_dtype) is a pair of visit_avg_pair (the bindings check).
  void (*update)(const AvgTensor& t, int64_t begin, int64_t end, double w);
};

}}  // namespace regcore::cpu
