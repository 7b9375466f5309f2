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

template <class T>
struct Update {
  Buffer<T> a, p;
  std::vector<AvgTensor> ts;
  explicit Update(int64_t n)
      : a(n, spec::value_of<T>(1e-3)), p(n, spec::value_of<T>(2e-3)), ts(spec::average_tensors(a.data(), p.data(), n)) {}
  void run() { cpu::average_multi(ts.data(), ts.size(), 1.0 - spec::kEmaDecay); }
};

template <class T>
CaseSpec ema_case(const char* dtype) {
  return spec::on_backend(spec::average_spec<T>(dtype), "cpu", true, [](int64_t n) {
    auto st = std::make_shared<Update<T>>(n);
    return make_run([st]() { st->run(); });
  });
}

const Register r_ema{ema_case<float>("float32")};
const Register r_ema_bf16{ema_case<bfloat16_t>("bfloat16")};

}  // namespace
}}  // namespace regcore::bench
