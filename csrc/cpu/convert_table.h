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
  // The 16-bit formats (bf16, f16) only: dst[i] = src[i] as float32 (exact), and dst[i] = src[i]
  // rounded to dt (nearest, ties to even): the conversions the kernels do as they load and store.
  void (*to_f32)(DType dt, const void* src, float* dst, int64_t n);
  void (*from_f32)(DType dt, const float* src, void* dst, int64_t n);
};

}}  // namespace regcore::cpu
