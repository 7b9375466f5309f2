// Penalized SGD (csrc/cpu/sgd_api.h): one step over n float32 parameters with a momentum buffer,
// as one tensor ("sgd.<rule>") and as n / 50,000 tensors of 50,000 ("sgd.<rule>_multi", the
// 200 x 50k of the issue at n = 10M), all in one parallel region.
//
// Minimum bytes: the five streams read w, g, b and write w, b (5 x 4n). Every penalty (coupled L2,
// L1 proximal) is in the same pass, so it adds nothing; max-norm over contiguous rows (axis 0)
// re-reads each row from cache right after updating it, so it adds nothing from memory either
// (docs/sgd.md): a max-norm case that falls behind the plain one shows the cost of that re-read.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/sgd_api.h"
#include "bench_case.h"
#include "buffer.h"

namespace regcore { namespace bench {
namespace {

constexpr int64_t kPart = 50000;   // elements per tensor of the multi-tensor cases
constexpr int64_t kRowLen = 1000;  // max-norm: a tensor is (rows, 1000), neurons along axis 0

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

struct Step {
  Buffer<float> w, g, b;
  std::vector<SgdTensor> ts;
  SgdHyper h;
  Step(int64_t n, int64_t part, Rule r) : w(n, 1e-3f), g(n, 1e-4f), b(n, 0.0f), h(hyper(r)) {
    for (int64_t at = 0; at < n; at += part) {
      const int64_t len = n - at < part ? n - at : part;
      SgdTensor t{};
      t.w = w.data() + at;
      t.g = g.data() + at;
      t.b = b.data() + at;
      t.n = len;
      t.f64 = false;
      t.first = false;
      if (r == kMomWdMaxNorm && len % kRowLen == 0) {
        t.outer = 1;
        t.rows = len / kRowLen;
        t.inner = kRowLen;
      }
      ts.push_back(t);
    }
  }
  void run() { cpu::sgd_step_multi(ts.data(), ts.size(), h); }
};

const char* rule_name(Rule r) {
  return r == kMomWd ? "momentum_wd" : r == kMomWdL1 ? "momentum_wd_l1" : "momentum_wd_maxnorm";
}

int64_t zero(int64_t) { return 0; }

CaseSpec sgd_case(Rule r, bool multi) {
  std::string kernel = std::string(rule_name(r)) + (multi ? "_multi" : "");
  std::string shape = multi ? "n/50000 tensors of 50000" : "(n,) one tensor";
  if (r == kMomWdMaxNorm) shape = multi ? "n/50000 tensors of (50, 1000)" : "(n/1000, 1000)";
  return CaseSpec{
      "sgd", kernel, "float32", "cpu", true,
      "read 4n (w) + 4n (g) + 4n (b) + write 4n (w) + 4n (b)",
      [](int64_t n) { return 20 * n; }, "0 (the momentum buffer is the optimizer's state, 4n)",
      zero, "parameters",
      [r, multi](int64_t n) {
        auto st = std::make_shared<Step>(n, multi ? kPart : n, r);
        return make_run([st]() { st->run(); });
      },
      // multiples of 50,000 (and of the 1,000-element rows): 1M and the 10M
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
