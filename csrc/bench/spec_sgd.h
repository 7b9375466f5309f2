// Penalized SGD's shared specification (cases_sgd.cpp, cuda/cases_sgd_cuda.cpp): one step over n
// float32 parameters with a momentum buffer, as one tensor ("sgd.<rule>") or as n / 50,000
// tensors of 50,000 ("sgd.<rule>_multi"). Minimum bytes: read w, g, b and write w, b (5 x 4n).
#pragma once
#include <string>
#include <vector>

#include "../core/sgd_params.h"
#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

constexpr int64_t kPart = 50000;   // elements per tensor of the multi-tensor cases
constexpr int64_t kRowLen = 1000;  // max-norm: a tensor is (rows, 1000), neurons along axis 0

enum SgdRule { kMomWd, kMomWdL1, kMomWdMaxNorm };

inline SgdHyper sgd_hyper(SgdRule r) {
  SgdHyper h{};
  h.lr = 0.01;
  h.momentum = 0.9;
  h.damp_keep = 1.0;
  h.wd = 1e-4;
  h.decay_keep = 1.0;
  h.flags = kSgdMomentum | kSgdWeightDecay;
  if (r == kMomWdL1) {
    h.l1 = 1e-5;
    h.l1_thr = h.lr * h.l1;
    h.flags |= kSgdL1Prox;
  }
  h.max_norm = r == kMomWdMaxNorm ? 3.0 : 0.0;
  return h;
}

inline const char* sgd_rule_name(SgdRule r) {
  return r == kMomWd ? "momentum_wd" : r == kMomWdL1 ? "momentum_wd_l1" : "momentum_wd_maxnorm";
}

// The n elements at w, g, b (host or device pointers) split into tensors of `part`; max-norm
// tensors viewed as (1, len / 1000, 1000).
inline std::vector<SgdTensor> sgd_tensors(float* w, float* g, float* b, int64_t n, int64_t part,
                                          SgdRule r) {
  std::vector<SgdTensor> ts;
  for (int64_t at = 0; at < n; at += part) {
    const int64_t len = n - at < part ? n - at : part;
    SgdTensor t{};
    t.w = w + at;
    t.g = g + at;
    t.b = b + at;
    t.n = len;
    t.dtype = DType::f32;
    t.first = false;
    if (r == kMomWdMaxNorm && len % kRowLen == 0) {
      t.outer = 1;
      t.rows = len / kRowLen;
      t.inner = kRowLen;
    }
    ts.push_back(t);
  }
  return ts;
}

// Elements per tensor of a case over n parameters.
inline int64_t sgd_part(bool multi, int64_t n) { return multi ? kPart : n; }

inline CaseSpec sgd_spec(SgdRule r, bool multi) {
  std::string shape = multi ? "n/50000 tensors of 50000" : "(n,) one tensor";
  if (r == kMomWdMaxNorm) shape = multi ? "n/50000 tensors of (50, 1000)" : "(n/1000, 1000)";
  CaseSpec c{};
  c.family = "sgd";
  c.kernel = std::string(sgd_rule_name(r)) + (multi ? "_multi" : "");
  c.dtype = "float32";
  c.bytes_formula = "read 4n (w) + 4n (g) + 4n (b) + write 4n (w) + 4n (b)";
  c.min_bytes = [](int64_t n) { return 20 * n; };
  c.state_formula = "0 (the momentum buffer is the optimizer's state, 4n)";
  c.state_bytes = zero_state;
  c.items = "parameters";
  // multiples of 50,000 (and of the 1,000-element rows): 1M and the 10M
  c.sizes = {1000000, 10000000};
  c.quick_sizes = {200000};
  c.shape = shape;
  return c;
}

// bfloat16 parameters and gradients with a float32 momentum buffer (docs/sgd.md), one tensor,
// nearest or stochastic rounding: "sgd.momentum_wd" / "sgd.momentum_wd_sr", dtype bfloat16. Minimum bytes: read 2n (w) + 2n (g)
// + 4n (b), write 2n (w) + 4n (b) = 14n; the random words of stochastic rounding are computed, not
// moved.
inline CaseSpec sgd_bf16_spec(bool sr) {
  CaseSpec c = sgd_spec(kMomWd, false);
  c.kernel = sr ? "momentum_wd_sr" : "momentum_wd";
  c.dtype = "bfloat16";
  c.bytes_formula = "read 2n (w) + 2n (g) + 4n (b, float32) + write 2n (w) + 4n (b)";
  c.min_bytes = [](int64_t n) { return 14 * n; };
  return c;
}

}}}  // namespace regcore::bench::spec

// Registers the family's cases, in registration order, as the case file builds them with
// sgd_case(SgdRule, bool multi).
#define REGCORE_SGD_REGISTER_CASES()                                          \
  const Register r_mom{sgd_case(spec::kMomWd, false)};                        \
  const Register r_mom_multi{sgd_case(spec::kMomWd, true)};                   \
  const Register r_l1{sgd_case(spec::kMomWdL1, false)};                       \
  const Register r_l1_multi{sgd_case(spec::kMomWdL1, true)};                  \
  const Register r_mn{sgd_case(spec::kMomWdMaxNorm, false)};                  \
  const Register r_mn_multi{sgd_case(spec::kMomWdMaxNorm, true)};
