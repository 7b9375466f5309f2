// The per-channel (batch norm) and per-row / per-element (layer norm) coefficient arrays of the
// normalization element formulas (core/batchnorm.h), as every layer passes them: untyped
// pointers to arrays of compute_dtype(dt), the type the element arithmetic of data dtype dt runs
// in. The kernels (CPU per ISA, CUDA) view them typed with coef_of<C>.
#pragma once
#include "dtype.h"

namespace regcore {

struct BnCoef {
  const void* mhi;    // mean, high part
  const void* mlo;    // mean, low part
  const void* scale;  // gamma * rstd
  const void* shift;  // beta
};
struct BnGradCoef {
  const void* ka;
  const void* kb;
  const void* kc;
};
// Per-row statistics (length R) and the per-element affine (length L) of layer norm.
struct LnCoef {
  const void* mhi;
  const void* mlo;
  const void* rstd;
  const void* gamma;  // null when the layer has no affine (the kernels use 1)
  const void* beta;   // null when the layer has no affine (the kernels use 0)
};

}  // namespace regcore

REGCORE_CORE_BEGIN

template <class C> struct BnCoefOf {
  const C* mhi;
  const C* mlo;
  const C* scale;
  const C* shift;
};
template <class C> struct BnGradCoefOf {
  const C* ka;
  const C* kb;
  const C* kc;
};
template <class C> struct LnCoefOf {
  const C* mhi;
  const C* mlo;
  const C* rstd;
  const C* gamma;
  const C* beta;
};

template <class C> REGCORE_HD BnCoefOf<C> coef_of(const BnCoef& k) {
  return {static_cast<const C*>(k.mhi), static_cast<const C*>(k.mlo), static_cast<const C*>(k.scale),
          static_cast<const C*>(k.shift)};
}
template <class C> REGCORE_HD BnGradCoefOf<C> coef_of(const BnGradCoef& g) {
  return {static_cast<const C*>(g.ka), static_cast<const C*>(g.kb), static_cast<const C*>(g.kc)};
}
// Non-affine layer norm passes no gamma/beta (null pointers) rather than full-size ones/zeros
// arrays: for a (1, L) input those would be as large as the input. A missing gamma is 1 and a
// missing beta is 0, substituted per element, so y = (xc * rstd) * 1 + 0 is the same bits as
// with explicit ones and zeros (x * 1 is exact; + 0 turns -0 into +0 in both).
template <class C> REGCORE_HD C gamma_at(const C* g, int64_t l) { return g ? g[l] : C(1); }
template <class C> REGCORE_HD C beta_at(const C* b, int64_t l) { return b ? b[l] : C(0); }

template <class C> REGCORE_HD LnCoefOf<C> coef_of(const LnCoef& k) {
  return {static_cast<const C*>(k.mhi), static_cast<const C*>(k.mlo), static_cast<const C*>(k.rstd),
          static_cast<const C*>(k.gamma), static_cast<const C*>(k.beta)};
}

REGCORE_CORE_END
