// Random draws' shared specification (cases_random.cpp, cuda/cases_random_cuda.cpp): each fills
// n elements from the counter stream and reads nothing.
#pragma once
#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

template <class T>
CaseSpec draw_spec(const char* kernel, const char* dtype) {
  return write_only_spec<T>("random", kernel, dtype);
}

}}}  // namespace regcore::bench::spec
