// Weight init's shared specification (cases_init.cpp, cuda/cases_init_cuda.cpp): write n
// elements, read nothing, on (n/1024, 1024) weights.
// trunc_normal(mean 0, std 1, a = -2, b = 2) is the inverse-CDF sampler of core/init_transforms.h;
// kaiming_normal_(mode="fan_in", nonlinearity="relu") is the normal sampler with
// std = sqrt(2 / 1024), which is what regcore.init runs for it.
#pragma once
#include <cmath>

#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

constexpr int64_t kFanIn = 1024;

inline double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
// p_lo = Phi(a), p_span = Phi(b) - Phi(a) for the standard parent (regcore/_truncnorm.py).
inline double trunc_p_lo() { return phi(-2.0); }
inline double trunc_p_span() { return phi(2.0) - phi(-2.0); }
inline double kaiming_std() { return std::sqrt(2.0 / double(kFanIn)); }

template <class T>
CaseSpec init_spec(const char* kernel, const char* dtype) {
  CaseSpec c = write_only_spec<T>("init", kernel, dtype);
  c.shape = "(n/1024, 1024)";
  return c;
}

}}}  // namespace regcore::bench::spec
