// Weight averaging (csrc/cpu/average_api.h): one EMA update over ResNet-50's parameter list in one
// parallel region. Case, sizes and minimum bytes: spec_average.h. Minimum bytes: read avg and
// param, write avg (12n); the average is read before it is written, so no store pays a
// write-allocate read and the kernel can reach the copy baseline's bandwidth.
#include <cstdint>
#include <memory>
#include <vector>

#include "../cpu/average_api.h"
#include "buffer.h"
#include "spec_average.h"

namespace regcore { namespace bench {
namespace {

struct Update {
  Buffer<float> a, p;
  std::vector<AvgTensor> ts;
  explicit Update(int64_t n) : a(n, 1e-3f), p(n, 2e-3f), ts(spec::average_tensors(a.data(), p.data(), n)) {}
  void run() { cpu::average_multi(ts.data(), ts.size(), 1.0 - spec::kEmaDecay); }
};

const Register r_ema{spec::on_backend(spec::average_spec(), "cpu", true, [](int64_t n) {
  auto st = std::make_shared<Update>(n);
  return make_run([st]() { st->run(); });
})};

}  // namespace
}}  // namespace regcore::bench
