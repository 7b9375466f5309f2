// What the CPU and CUDA bindings of the multi-tensor SGD step share: naming the i-th tensor of a
// list in errors, and checking that the parallel lists line up before any tensor is read.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/sgd_params.h"

namespace regcore { namespace bindings {

inline std::string item_name(const char* list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

inline void check_list_lengths(size_t params, size_t grads, size_t bufs, size_t firsts, size_t geoms) {
  if (grads != params || bufs != params || firsts != params || geoms != params)
    throw pybind11::value_error("grads, momentum_bufs: expected lists as long as params");
}

// The 16-bit options of a step of `count` parameters, checked before any tensor is read: the
// float32 master copies as a list with one entry per parameter (None: no masters, a list of
// None), and, with stochastic rounding in `flags`, one counter offset per parameter.
inline pybind11::list checked_masters(const pybind11::object& masters, const std::vector<uint64_t>& sr_offsets,
                                      size_t count, uint32_t flags) {
  pybind11::list ms;
  if (masters.is_none()) {
    for (size_t i = 0; i < count; ++i) ms.append(pybind11::none());
  } else {
    ms = pybind11::list(masters);
  }
  if (ms.size() != count) throw pybind11::value_error("masters: expected a list as long as params");
  if ((flags & kSgdStochastic) && sr_offsets.size() != count)
    throw pybind11::value_error("sr_offsets: expected one counter offset per parameter");
  return ms;
}

}}  // namespace regcore::bindings
