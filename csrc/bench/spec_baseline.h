// The copy baseline's shared specification (cases_baseline.cpp, cuda/cases_baseline_cuda.cpp):
// read n elements, write n elements.
#pragma once
#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

template <class T>
CaseSpec copy_spec(const char* dtype) {
  CaseSpec c{};
  c.family = "baseline";
  c.kernel = "copy";
  c.dtype = dtype;
  c.bytes_formula = sizeof(T) == 8 ? "read 8n + write 8n" : "read 4n + write 4n";
  c.min_bytes = [](int64_t n) { return 2 * n * int64_t(sizeof(T)); };
  c.state_formula = "0";
  c.state_bytes = zero_state;
  c.items = "elements";
  return c;
}

}}}  // namespace regcore::bench::spec
