#include "bench_case.h"

#include <chrono>
#include <stdexcept>

namespace regcore { namespace bench {

double CaseRun::time(int inner) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < inner; ++i) run();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

std::vector<CaseSpec>& registry() {
  // A function-local static: built on first use, so registration order across object files
  // (unspecified for file-scope initializers) cannot matter.
  static std::vector<CaseSpec> cases;
  return cases;
}

const CaseSpec* find_case(const std::string& name, const std::string& dtype) {
  for (const CaseSpec& c : registry())
    if (c.name() == name && c.dtype == dtype) return &c;
  return nullptr;
}

Register::Register(CaseSpec spec) {
  if (find_case(spec.name(), spec.dtype))
    throw std::logic_error("regcore bench: case " + spec.id() + " registered twice");
  registry().push_back(std::move(spec));
}

}}  // namespace regcore::bench
