// Batch-normalization math shared by every backend: the (count, mean, M2) merge, and the
// per-element formulas of the normalize and backward passes. Templates over the lane type F
// (float, double, VF32, VF64, or a CUDA scalar), so the CPU lanes and the GPU run one formula.
//
// Conventions (docs/batchnorm.md):
//  * statistics are (count, mean, M2) per channel in float64, M2 = sum (x - mean)^2;
//  * the mean enters the element formulas as two numbers of the data type, mhi + mlo, with
//    mhi = round(mean) and mlo = round(mean - mhi). For float32 data with mean 1e4 and std 1e-2,
//    round(mean) alone is off by up to 5e-4 = 5% of a standard deviation; x - mhi is exact
//    (Sterbenz) and subtracting mlo afterwards leaves one rounding of the small centered value;
//  * a per-channel affine map scale = gamma * rstd, shift = beta is applied to the centered value.
#pragma once
#include <cmath>

#include "scalar_ops.h"

REGCORE_CORE_BEGIN

struct Moments {
  double n, mean, m2;
};

// v itself when finite: v - v is 0 for a finite v and NaN for an infinity or a NaN.
REGCORE_HD bool is_finite(double v) { return v - v == 0.0; }

// Chan, Golub & LeVeque's pairwise update: merges the moments of two disjoint parts (counts may
// differ). The same operation order is used by the Python merge (python/regcore/_norm_stats.py).
// A part holding an inf has an infinite mean; a + (b - a) * fb would then be inf - inf = NaN where
// the mean of all the values is that inf (as NumPy and PyTorch give), so non-finite means are
// added instead (inf + finite = inf; +inf + -inf and NaN stay NaN). M2 is NaN either way.
REGCORE_HD Moments chan_merge(Moments a, Moments b) {
  if (b.n == 0.0) return a;
  if (a.n == 0.0) return b;
  Moments r;
  r.n = a.n + b.n;
  const double d = b.mean - a.mean;
  const double fb = b.n / r.n;
  r.mean = is_finite(a.mean) && is_finite(b.mean) ? a.mean + d * fb : a.mean + b.mean;
  r.m2 = (a.m2 + b.m2) + (d * d) * (a.n * fb);
  return r;
}

// The shift K of a set's shifted sums: its first value, or 0 when that value is not finite. An
// infinite K would make every deviation x - K NaN or inf - inf, so a set starting with an inf
// would get a NaN mean where its other values put it (the NumPy backend's two-pass sums give
// the inf). With K = 0 the sums carry the inf or NaN as the two-pass form does.
REGCORE_HD double moment_shift(double first) { return is_finite(first) ? first : 0.0; }

// (mean, M2) of n values from their sums shifted by K: s = sum (x - K), q = sum (x - K)^2. With K
// a sample of the data the deviations are of the order of the spread, so q - s*s/n does not
// cancel catastrophically (no E[x^2] - E[x]^2). The clamp keeps a constant channel's rounding
// residue from going negative; it is written "r < 0 ? 0 : r" so that a NaN M2 (a NaN or inf in
// the channel) stays NaN, as the NumPy backend and PyTorch give, instead of becoming 0.
REGCORE_HD void shifted_moments(double n, double K, double s, double q, double* mean, double* m2) {
  const double sn = s / n;
  *mean = K + sn;
  const double r = q - s * sn;
  *m2 = r < 0.0 ? 0.0 : r;
}

// Welford's single-value update (the per-thread accumulator of the GPU statistics kernels;
// partial moments are then combined with chan_merge in a fixed order).
REGCORE_HD void welford_add(Moments& m, double x) {
  m.n += 1.0;
  const double d = x - m.mean;
  m.mean += d / m.n;
  m.m2 += d * (x - m.mean);
}

// x - mean, with the mean split in two numbers of the data type (see the file comment).
template <class F> REGCORE_HD F bn_center(F x, F mhi, F mlo) { return (x - mhi) - mlo; }

// PyTorch's relu (clamp_min(z, 0)): 0 where z < 0, z itself otherwise, so NaN stays NaN (with
// its sign and payload) and -0 stays -0. A compare and select, so SIMD lanes, scalar code, NumPy
// (np.where(z < 0, 0, z)) and CUDA agree on every input.
template <class F> REGCORE_HD F bn_relu(F z) { return vselect(vgt(F(0.0f), z), F(0.0f), z); }

// The normalize pass: y = xc * scale + shift (then ReLU when fused).
template <class F> REGCORE_HD F bn_normalize(F x, F mhi, F mlo, F scale, F shift, bool relu) {
  const F z = bn_center(x, mhi, mlo) * scale + shift;
  return relu ? bn_relu(z) : z;
}

// The gradient reaching the affine output: 0 where z <= 0, dy elsewhere (z > 0 or NaN), which is
// PyTorch's threshold_backward for relu. The mask is recomputed from x with the forward's exact
// formula and coefficients instead of re-reading y, which saves one array read in each backward.
template <class F> REGCORE_HD F bn_masked_dy(F dy, F xc, F scale, F shift, bool relu) {
  if (!relu) return dy;
  return vselect(vle(xc * scale + shift, F(0.0f)), F(0.0f), dy);
}

// dx = ka * dy' + kb * xc + kc, with per-channel ka = gamma*rstd, kb = -ka*rstd^2*sum(dy'*xc)/M,
// kc = -ka*sum(dy')/M. Written on xc (not x) so the large mean cancels before any product.
template <class F> REGCORE_HD F bn_backward_dx(F dyp, F xc, F ka, F kb, F kc) {
  return (ka * dyp + kb * xc) + kc;
}

// Layer norm's normalize: per-row statistics (mhi, mlo, rstd) and a per-element affine (g, b),
// y = ((xc * rstd) * g) + b. Without an affine the caller passes g = 1, b = 0, which leaves
// xc * rstd unchanged bit for bit.
template <class F> REGCORE_HD F ln_normalize(F x, F mhi, F mlo, F rstd, F g, F b) {
  return (bn_center(x, mhi, mlo) * rstd) * g + b;
}

// Layer norm's dx: bn_backward_dx with the per-element ka = g * rstd (kb, kc per row).
template <class F> REGCORE_HD F ln_backward_dx(F dy, F xc, F g, F rstd, F kb, F kc) {
  return bn_backward_dx(dy, xc, g * rstd, kb, kc);
}

// Layer norm's per-row coefficients (norms.py's _layer_saved and _layer_backward), in the
// compute type F of the element formulas: rstd = 1 / sqrt(var + eps) in float64, the mean split
// as mhi = round(mean), mlo = round(mean - mhi), and rs = round(rstd); rounding is the plain
// float64 -> F conversion (round to nearest), as the convert table's.
template <class F> struct LnRowCoef {
  double rstd;
  F mhi, mlo, rs;
};
template <class F> inline LnRowCoef<F> ln_row_coef(double mean, double var, double eps) {
  LnRowCoef<F> c;
  c.rstd = 1.0 / std::sqrt(var + eps);
  c.mhi = F(mean);
  c.mlo = F(mean - double(c.mhi));
  c.rs = F(c.rstd);
  return c;
}
// The row's dx coefficients from its sums a1 = sum g*dy, a2 = sum g*dy*xc over L values:
// kb = -rstd^3 * (a2 / L), kc = -rstd * (a1 / L) in float64, rounded once to F.
template <class F> inline void ln_grad_row_coef(double rstd, double a1, double a2, double L, F* kb, F* kc) {
  *kb = F((-((rstd * rstd) * rstd)) * (a2 / L));
  *kc = F((-rstd) * (a1 / L));
}

REGCORE_CORE_END
