// Penalized SGD on the GPU (csrc/cuda/sgd_api.h): the same cases, sizes and minimum bytes as
// csrc/bench/cases_sgd.cpp: one multi-tensor launch per step (plus one max-norm launch per tensor
// that has it), over one tensor or n / 50,000 tensors of 50,000.
#include <memory>
#include <string>
#include <vector>

#include "../../cuda/sgd_api.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

constexpr int64_t kPart = 50000;
constexpr int64_t kRowLen = 1000;

enum Rule { kMomWd, kMomWdL1, kMomWdMaxNorm };

SgdHyper hyper(Rule r) {
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

struct DeviceStep {
  DeviceBuffer<float> w, g, b;
  std::vector<SgdTensor> ts;
  SgdHyper h;
  DeviceStep(int64_t n, int64_t part, Rule r) : w(n), g(n), b(n), h(hyper(r)) {
    for (int64_t at = 0; at < n; at += part) {
      const int64_t len = n - at < part ? n - at : part;
      SgdTensor t{};
      t.w = w.data() + at;
      t.g = g.data() + at;
      t.b = b.data() + at;
      t.n = len;
      if (r == kMomWdMaxNorm && len % kRowLen == 0) {
        t.outer = 1;
        t.rows = len / kRowLen;
        t.inner = kRowLen;
      }
      ts.push_back(t);
    }
  }
};

const char* rule_name(Rule r) {
  return r == kMomWd ? "momentum_wd" : r == kMomWdL1 ? "momentum_wd_l1" : "momentum_wd_maxnorm";
}

CaseSpec sgd_case(Rule r, bool multi) {
  std::string shape = multi ? "n/50000 tensors of 50000" : "(n,) one tensor";
  if (r == kMomWdMaxNorm) shape = multi ? "n/50000 tensors of (50, 1000)" : "(n/1000, 1000)";
  return CaseSpec{
      "sgd", std::string(rule_name(r)) + (multi ? "_multi" : ""), "float32", "cuda", false,
      "read 4n (w) + 4n (g) + 4n (b) + write 4n (w) + 4n (b)",
      [](int64_t n) { return 20 * n; }, "0 (the momentum buffer is the optimizer's state, 4n)",
      no_state, "parameters",
      [r, multi](int64_t n) {
        auto st = std::make_shared<DeviceStep>(n, multi ? kPart : n, r);
        return make_cuda_run([st](uintptr_t s) { cuda::sgd_step_multi(st->ts.data(), st->ts.size(), st->h, s); });
      },
      {1000000, 10000000}, {200000}, shape};
}

const Register r_mom{sgd_case(kMomWd, false)};
const Register r_mom_multi{sgd_case(kMomWd, true)};
const Register r_l1{sgd_case(kMomWdL1, false)};
const Register r_l1_multi{sgd_case(kMomWdL1, true)};
const Register r_mn{sgd_case(kMomWdMaxNorm, false)};
const Register r_mn_multi{sgd_case(kMomWdMaxNorm, true)};

}  // namespace
}}  // namespace regcore::bench
