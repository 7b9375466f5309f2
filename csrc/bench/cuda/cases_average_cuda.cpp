// Weight averaging on the GPU (csrc/cuda/average_api.h): the same case, sizes and minimum bytes as
// csrc/bench/cases_average.cpp (spec_average.h): one EMA update over ResNet-50's parameter list,
// a few multi-tensor launches.
#include <memory>
#include <vector>

#include "../../cuda/average_api.h"
#include "../spec_average.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

struct DeviceUpdate {
  DeviceBuffer<float> a, p;
  std::vector<AvgTensor> ts;
  explicit DeviceUpdate(int64_t n) : a(n), p(n), ts(spec::average_tensors(a.data(), p.data(), n)) {}
};

const Register r_ema{spec::on_backend(spec::average_spec(), "cuda", false, [](int64_t n) {
  auto st = std::make_shared<DeviceUpdate>(n);
  return make_cuda_run([st](uintptr_t s) { cuda::average_multi(st->ts.data(), st->ts.size(), 1.0 - spec::kEmaDecay, s); });
})};

}  // namespace
}}  // namespace regcore::bench
