// Whole-step entry points of the penalized SGD family on the CPU: many tensors, one parallel
// region over (tensor, chunk) work items whose boundaries depend only on the tensor shapes.
#pragma once
#include <cstdint>
#include <cstddef>

#include "../core/sgd_params.h"

namespace regcore { namespace cpu {

using ::regcore::SgdHyper;
using ::regcore::SgdTensor;
using ::regcore::PenaltyTensor;

void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h);

// Canonical float64 sums over many tensors: sum |x| and sum x^2 (docs/sgd.md for the order).
void penalty_sums(const PenaltyTensor* ts, size_t count, double& sum_abs, double& sum_sq);

}}  // namespace regcore::cpu
