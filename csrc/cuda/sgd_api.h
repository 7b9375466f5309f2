// Penalized SGD on a CUDA device (device pointers; stream as in launch.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../core/sgd_params.h"

namespace regcore { namespace cuda {

// Multi-tensor step: tensors go into launch tables of up to kSgdMaxTensors tensors and
// kSgdMaxBlocks chunks each (the table travels in the kernel parameters, no host-device copy),
// then one max-norm launch per tensor that has it.
void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h, uintptr_t stream);

// Canonical float64 sums |x| and x^2 over many tensors (waits for the stream: returns values).
void penalty_sums(const PenaltyTensor* ts, size_t count, double& sum_abs, double& sum_sq,
                  uintptr_t stream);

}}  // namespace regcore::cuda
