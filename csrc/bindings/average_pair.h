// What the CPU and CUDA bindings of weight averaging share: the (average, parameter) dtype pair
// check, against the pairs the kernels take (core/average.h's visit_avg_pair), before any pointer
// is read. The Python layer refuses other pairs first with the same wording; this keeps the
// extension safe when called directly.
#pragma once
#include <pybind11/pybind11.h>

#include <string>

#include "../core/average.h"

namespace regcore { namespace bindings {

inline void check_avg_pair(DType avg, DType param, const std::string& an, const std::string& pn) {
  if (avg_pair_ok(avg, param)) return;
  std::string want = std::string("the dtype of ") + an + " (" + dtype_name(avg) + ")";
  for_each_avg_pair([&](auto at, auto pt) {   // the wider pairs' parameter dtypes for this average
    using SA = REGCORE_TAG_TYPE(at);
    using SP = REGCORE_TAG_TYPE(pt);
    if (dtype_of<SA>() == avg && dtype_of<SP>() != avg) want += std::string(" or ") + dtype_traits<SP>::name;
  });
  throw pybind11::type_error(pn + ": expected " + want + ", got dtype " + dtype_name(param));
}

}}  // namespace regcore::bindings
