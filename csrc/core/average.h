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

// One (average, parameter) pair of a multi-tensor update (host or device pointers). The two
// storage types are one of the pairs of visit_avg_pair below.
struct AvgTensor {
  void* avg;
  const void* param;
  int64_t n;
  DType dtype;        // of avg: the arithmetic runs in compute_t of it
  DType param_dtype;  // of param: dtype, or a 16-bit dtype under a float32 average
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

// The (average, parameter) storage pairs besides (S, S) for every dtype: float32 averages of
// 16-bit parameters (the mixed-precision EMA). The parameter is widened exactly to the average's
// arithmetic type, so every pair computes in compute_t of the average. Adding a pair: a line
// here (the CPU kernels, the CUDA launch tables and the bindings follow) and its dtype names in
// python/regcore/averaging.py's _WIDE_PAIRS.
#define REGCORE_AVG_WIDE_PAIRS(X) X(f32, float, bf16, bfloat16_t) X(f32, float, f16, float16_t)

// f(type_tag<SA>{}, type_tag<SP>{}) for the storage types of an (average, parameter) pair; false
// (f not called) when (a, p) is not a pair the kernels take. Host code only.
template <class F> inline bool visit_avg_pair(DType a, DType p, F&& f) {
  if (a == p) {
    visit_dtype(a, [&](auto t) { f(t, t); });
    return true;
  }
#define REGCORE_AVG_PAIR_CASE(ta, SA, tp, SP)                 \
  if (a == DType::ta && p == DType::tp) {                     \
    f(type_tag<SA>{}, type_tag<SP>{});                        \
    return true;                                              \
  }
  REGCORE_AVG_WIDE_PAIRS(REGCORE_AVG_PAIR_CASE)
#undef REGCORE_AVG_PAIR_CASE
  return false;
}

// f(type_tag<SA>{}, type_tag<SP>{}) for every pair (CUDA: one set of launch tables per pair).
template <class F> inline void for_each_avg_pair(F&& f) {
  for_each_dtype([&](auto t) { f(t, t); });
#define REGCORE_AVG_PAIR_EACH(ta, SA, tp, SP) f(type_tag<SA>{}, type_tag<SP>{});
  REGCORE_AVG_WIDE_PAIRS(REGCORE_AVG_PAIR_EACH)
#undef REGCORE_AVG_PAIR_EACH
}

inline bool avg_pair_ok(DType a, DType p) {
  return visit_avg_pair(a, p, [](auto, auto) {});
}

// One element (F = C or a SIMD vector of C); f = avg_factor(w, m), m is low or high.
template <class F>
REGCORE_HD F avg_blend(F a, F p, F f, bool high) {
  const F d = p - a;
  return high ? p - f * d : a + f * d;
}

REGCORE_CORE_END
