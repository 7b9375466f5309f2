// Penalized SGD on the GPU (csrc/cuda/sgd_api.h): the same cases, sizes and minimum bytes as
// csrc/bench/cases_sgd.cpp (csrc/bench/spec_sgd.h): one multi-tensor launch per step (plus one
// max-norm launch per tensor that has it), over one tensor or n / 50,000 tensors of 50,000.
#include <memory>
#include <vector>

#include "../../cuda/sgd_api.h"
#include "../spec_sgd.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

using spec::SgdRule;

struct DeviceStep {
  DeviceBuffer<float> w, g, b;
  std::vector<SgdTensor> ts;
  SgdHyper h;
  DeviceStep(int64_t n, int64_t part, SgdRule r)
      : w(n), g(n), b(n), ts(spec::sgd_tensors(w.data(), g.data(), b.data(), n, part, r)),
        h(spec::sgd_hyper(r)) {}
};

CaseSpec sgd_case(SgdRule r, bool multi) {
  return spec::on_backend(spec::sgd_spec(r, multi), "cuda", false, [r, multi](int64_t n) {
    auto st = std::make_shared<DeviceStep>(n, spec::sgd_part(multi, n), r);
    return make_cuda_run([st](uintptr_t s) { cuda::sgd_step_multi(st->ts.data(), st->ts.size(), st->h, s); });
  });
}

REGCORE_SGD_REGISTER_CASES()

}  // namespace
}}  // namespace regcore::bench
