// Penalized SGD (csrc/cpu/sgd_api.h): one step over n float32 parameters with a momentum buffer,
// as one tensor ("sgd.<rule>") and as n / 50,000 tensors of 50,000 ("sgd.<rule>_multi", the
// 200 x 50k of the issue at n = 10M), all in one parallel region. Cases, sizes and minimum bytes:
// spec_sgd.h.
//
// Minimum bytes: the five streams read w, g, b and write w, b (5 x 4n). Every penalty (coupled L2,
// L1 proximal) is in the same pass, so it adds nothing; max-norm over contiguous rows (axis 0)
// re-reads each row from cache right after updating it, so it adds nothing from memory either
// (docs/sgd.md): a max-norm case that falls behind the plain one shows the cost of that re-read.
#include <cstdint>
#include <memory>
#include <vector>

#include "../cpu/sgd_api.h"
#include "buffer.h"
#include "spec_sgd.h"

namespace regcore { namespace bench {
namespace {

using spec::SgdRule;

struct Step {
  Buffer<float> w, g, b;
  std::vector<SgdTensor> ts;
  SgdHyper h;
  Step(int64_t n, int64_t part, SgdRule r)
      : w(n, 1e-3f), g(n, 1e-4f), b(n, 0.0f),
        ts(spec::sgd_tensors(w.data(), g.data(), b.data(), n, part, r)), h(spec::sgd_hyper(r)) {}
  void run() { cpu::sgd_step_multi(ts.data(), ts.size(), h); }
};

// bfloat16 w and g (bit patterns of 1e-3 and 1e-4), a float32 buffer.
struct HalfStep {
  Buffer<uint16_t> w, g;
  Buffer<float> b;
  std::vector<SgdTensor> ts;
  SgdHyper h;
  HalfStep(int64_t n, bool sr)
      : w(n, 0x3A83), g(n, 0x38D2), b(n, 0.0f), h(spec::sgd_hyper(spec::kMomWd)) {
    SgdTensor t{};
    t.w = w.data();
    t.g = g.data();
    t.b = b.data();
    t.n = n;
    t.dtype = DType::bf16;
    ts.push_back(t);
    if (sr) {
      h.flags |= kSgdStochastic;
      h.seed = 42;
    }
  }
  void run() { cpu::sgd_step_multi(ts.data(), ts.size(), h); }
};

CaseSpec sgd_bf16_case(bool sr) {
  return spec::on_backend(spec::sgd_bf16_spec(sr), "cpu", true, [sr](int64_t n) {
    auto st = std::make_shared<HalfStep>(n, sr);
    return make_run([st]() { st->run(); });
  });
}

CaseSpec sgd_case(SgdRule r, bool multi) {
  return spec::on_backend(spec::sgd_spec(r, multi), "cpu", true, [r, multi](int64_t n) {
    auto st = std::make_shared<Step>(n, spec::sgd_part(multi, n), r);
    return make_run([st]() { st->run(); });
  });
}

REGCORE_SGD_REGISTER_CASES()
const Register r_bf16{sgd_bf16_case(false)};
const Register r_bf16_sr{sgd_bf16_case(true)};

}  // namespace
}}  // namespace regcore::bench
