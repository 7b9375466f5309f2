// Whole-step entry points of the penalized SGD family on the CPU: many tensors, one parallel
// region over (tensor, chunk) work items whose boundaries depend only on the tensor shapes.
#pragma once
#include <cstdint>
#include <cstddef>

namespace regcore { namespace cpu {

// One parameter tensor of a step. b is null without momentum. Max-norm geometry: the tensor
// viewed as (outer, rows, inner) with rows the neuron axis; rows == 0 means no max-norm.
struct SgdTensor {
  void* w;
  const void* g;
  void* b;
  int64_t n;
  bool f64;
  bool first;  // the momentum buffer is new: b <- d instead of reading it
  int64_t outer, rows, inner;
};

// Hyper-parameters in float64 (SgdParams<T> holds them rounded once to the tensor's dtype).
struct SgdHyper {
  double lr, momentum, damp_keep, wd, decay_keep, l1, l1_thr;
  uint32_t flags;
  double max_norm;  // > 0 when some tensor has rows > 0
};

void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h);

// Canonical float64 sums over many tensors: sum |x| and sum x^2 (docs/sgd.md for the order).
struct PenaltyTensor {
  const void* x;
  int64_t n;
  bool f64;
};
void penalty_sums(const PenaltyTensor* ts, size_t count, double& sum_abs, double& sum_sq);

}}  // namespace regcore::cpu
