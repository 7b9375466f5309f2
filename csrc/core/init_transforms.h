// Truncated normal by inverse-CDF sampling: how one Philox block becomes two samples of
// N(mean, std^2) restricted to [a, b] (docs/random.md, "trunc_normal"). A template over the lane
// types like core/random_transforms.h: scalar C++, every SIMD width and CUDA run this code.
//
// E = 2 for float32 and float64 alike: element 2b+j takes a 53-bit uniform U from words 2j, 2j+1
// of block b, and everything up to the final rounding is float64:
//   p = clamp(p_lo + p_span * U, 2^-1000, 1 - 2^-53)
//   z = Phi^-1(p)                 (AS241, core/float_math.h)
//   x = mean + scale * z          (scale = +std, or -std when the host flipped the interval)
//   out = min(max(round_to_output(x), lo), hi)
// The host (python/regcore/init.py) computes p_lo = Phi(alpha), p_span = Phi(beta) - Phi(alpha)
// for standardized bounds alpha < beta, after mirroring the interval into the lower tail when
// most of it lies above the mean (scale = -std then): a probability near 0 carries full relative
// precision in float64, one near 1 does not, so the far tails keep their precision.
// lo, hi are a and b rounded inward to the output precision, so the result never leaves [a, b].
#pragma once
#include "random_transforms.h"

REGCORE_CORE_BEGIN

struct TruncNormalArgs {
  double p_lo, p_span, mean, scale, lo, hi;
};

template <class T>
struct TruncNormalTransform {
  static constexpr int E = 2;
  using out_t = T;
  double p_lo, p_span, mean, scale;
  T lo, hi;
  REGCORE_HD explicit TruncNormalTransform(const TruncNormalArgs& a)
      : p_lo(a.p_lo), p_span(a.p_span), mean(a.mean), scale(a.scale), lo(T(a.lo)), hi(T(a.hi)) {}

  template <class U, class R> REGCORE_HD void apply(const U w[4], R r[2]) const {
    using D = typename f64_lanes<R>::type;
    for (int j = 0; j < 2; ++j) {
      D u = uniform53<U, D>(w[2 * j], w[2 * j + 1]);
      D p = D(p_lo) + D(p_span) * u;
      p = vmin(vmax(p, D(0x1p-1000)), D(0x1.fffffffffffffp-1));
      D x = D(mean) + D(scale) * ndtri_as241(p);
      r[j] = vmin(vmax(narrow_to(x, R()), R(lo)), R(hi));
    }
  }
};

REGCORE_CORE_END
