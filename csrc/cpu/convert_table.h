// Element conversions one ISA level provides, for the baseline layer's O(C) work between passes
// (per-channel coefficients, final float64 sums): it passes arrays of any dtype as (DType, void*)
// and never needs the element type itself.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

struct ConvertTable {
  // dst[i] = src[i] as float64 (exact), i in [0, n).
  void (*to_f64)(DType dt, const void* src, double* dst, int64_t n);
  // dst[i] = src[i] rounded to dt (nearest, ties to even), i in [0, n).
  void (*from_f64)(DType dt, const double* src, void* dst, int64_t n);
};

}}  // namespace regcore::cpu
