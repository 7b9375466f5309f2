// What the CPU and CUDA bindings of the multi-tensor SGD step share: naming the i-th tensor of a
// list in errors, and checking that the parallel lists line up before any tensor is read.
#pragma once
#include <pybind11/pybind11.h>

#include <string>

namespace regcore { namespace bindings {

inline std::string item_name(const char* list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

inline void check_list_lengths(size_t params, size_t grads, size_t bufs, size_t firsts, size_t geoms) {
  if (grads != params || bufs != params || firsts != params || geoms != params)
    throw pybind11::value_error("grads, momentum_bufs: expected lists as long as params");
}

}}  // namespace regcore::bindings
