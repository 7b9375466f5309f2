// The running-average update of weight averaging (EMA, SWA), one element or one SIMD vector at a
// time, written once for every backend (scalar C++, AVX2, AVX-512, CUDA; the NumPy backend repeats
// it operation for operation). docs/averaging.md gives the math.
//
//   avg <- avg + w * (param - avg)         EMA: w = 1 - decay;  SWA: w = 1 / (n_averaged + 1)
//
// w arrives in float64 and is rounded ONCE to the tensor's arithmetic type C; the call's mode is
// decided on that rounded value, so every backend takes the same branch:
//   w == 0       keep:  nothing is read or written (decay = 1 leaves the average bit-unchanged,
//                       even where param is NaN/inf or avg is -0);
//   w == 1       copy:  avg <- param exactly (the first SWA step, n_averaged = 0);
//   0 < w < 1/2  low:   avg + w * (param - avg)
//   1/2 <= w < 1 high:  param - (1 - w) * (param - avg), with 1 - w exact in C (Sterbenz)
// The two-sided form is torch.lerp's: each side multiplies the difference by a factor <= 1/2, so
// the result is within a few ulps of the exact average and reaches both end points exactly.
// No fused multiply-add anywhere (-ffp-contract=off / --fmad=false): the same bits everywhere.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace regcore {

// One (average, parameter) pair of a multi-tensor update (host or device pointers).
struct AvgTensor {
  void* avg;
  const void* param;
  int64_t n;
  DType dtype;  // of avg and param
};

enum class AvgMode : int32_t { keep = 0, copy = 1, low = 2, high = 3 };

}  // namespace regcore

REGCORE_CORE_BEGIN

template <class C>
REGCORE_HD AvgMode avg_mode(C w) {
  if (w == C(0)) return AvgMode::keep;
  if (w == C(1)) return AvgMode::copy;
  return w < C(0.5) ? AvgMode::low : AvgMode::high;
}

// The factor the difference is multiplied by: w (low) or 1 - w (high).
template <class C>
REGCORE_HD C avg_factor(C w, AvgMode m) {
  return m == AvgMode::high ? C(1) - w : w;
}

// One element (F = C or a SIMD vector of C); f = avg_factor(w, m), m is low or high.
template <class F>
REGCORE_HD F avg_blend(F a, F p, F f, bool high) {
  const F d = p - a;
  return high ? p - f * d : a + f * d;
}

REGCORE_CORE_END
