// Weight averaging's shared specification (cases_average.cpp, cuda/cases_average_cuda.cpp): one
// EMA update (decay 0.999) of float32 averages over the parameter list of a ResNet-50 (161 tensors,
// 25,557,032 parameters; --quick: the same network at a quarter of the width), all tensors in one
// multi-tensor call. Minimum bytes: read avg and param, write avg (3 x 4n; bfloat16: 3 x 2n).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/average.h"
#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

constexpr double kEmaDecay = 0.999;

// Element counts of ResNet-50's parameters, in module order, for stem width b (torchvision: b = 64):
// conv1 + bn1, four stages of bottlenecks (3, 4, 6, 3 blocks; widths b, 2b, 4b, 8b; expansion 4;
// a projection shortcut in each stage's first block), then the 1000-way classifier.
inline std::vector<int64_t> resnet50_sizes(int64_t b) {
  std::vector<int64_t> s = {b * 3 * 7 * 7, b, b};
  const int blocks[4] = {3, 4, 6, 3};
  int64_t in = b;
  for (int st = 0; st < 4; ++st) {
    const int64_t w = b << st, out = 4 * w;
    for (int k = 0; k < blocks[st]; ++k) {
      // (conv weight, channels of its batch norm): 1x1 reduce, 3x3, 1x1 expand
      const int64_t convs[3][2] = {{w * in, w}, {w * w * 9, w}, {out * w, out}};
      for (const auto& cv : convs) {
        s.push_back(cv[0]);
        s.push_back(cv[1]);
        s.push_back(cv[1]);
      }
      if (k == 0) {
        s.push_back(out * in);
        s.push_back(out);
        s.push_back(out);
      }
      in = out;
    }
  }
  s.push_back(1000 * in);
  s.push_back(1000);
  return s;
}

inline int64_t total(const std::vector<int64_t>& v) {
  int64_t n = 0;
  for (int64_t x : v) n += x;
  return n;
}

// The stem width whose network holds exactly n parameters (64: the full size, 16: --quick).
inline int64_t resnet50_width(int64_t n) {
  for (int64_t b : {64, 16})
    if (total(resnet50_sizes(b)) == n) return b;
  throw std::invalid_argument("n: average.ema_resnet50 runs at " + std::to_string(total(resnet50_sizes(64))) +
                              " or " + std::to_string(total(resnet50_sizes(16))) + " parameters");
}

// The n elements at avg and param (host or device pointers, T's storage) cut as ResNet-50's tensors.
template <class T>
std::vector<AvgTensor> average_tensors(T* avg, const T* param, int64_t n) {
  std::vector<AvgTensor> ts;
  int64_t at = 0;
  for (int64_t len : resnet50_sizes(resnet50_width(n))) {
    ts.push_back(AvgTensor{avg + at, param + at, len, dtype_of<T>(), dtype_of<T>()});
    at += len;
  }
  return ts;
}

// Averages of the parameters' own storage type T (float32; bfloat16: the blend in float32, rounded once).
template <class T = float>
CaseSpec average_spec(const char* dtype = "float32") {
  constexpr int64_t s = sizeof(T);
  const std::string sn = std::to_string(s) + "n";
  CaseSpec c{};
  c.family = "average";
  c.kernel = "ema_resnet50";
  c.dtype = dtype;
  c.bytes_formula = "read " + sn + " (avg) + " + sn + " (param) + write " + sn + " (avg)";
  c.min_bytes = [](int64_t n) { return 3 * s * n; };
  c.state_formula = "0 (the averages are the state, " + sn + ")";
  c.state_bytes = zero_state;
  c.items = "parameters";
  c.sizes = {total(resnet50_sizes(64))};
  c.quick_sizes = {total(resnet50_sizes(16))};
  c.shape = "ResNet-50's 161 parameter tensors (quick: width 16)";
  return c;
}

}}}  // namespace regcore::bench::spec
