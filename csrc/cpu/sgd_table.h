// The penalized-SGD kernels one ISA level provides (plain function pointers; see random_table.h).
// Every kernel works on a range the baseline layer chose with fixed boundaries, and every sum
// follows the canonical 16-lane order of core/sgd_rule.h, so results do not depend on the ISA
// level or the thread count. A tensor's element types are given by SgdTensor (dtype, and the
// master case of core/sgd_params.h); the hyper-parameters
// arrive in float64 and are rounded once to the tensor's arithmetic type by the kernel.
#pragma once
#include <cstdint>

#include "../core/sgd_params.h"

namespace regcore { namespace cpu {

struct SgdTable {
  // Elements [begin, end) of tensor t. t.b is null without momentum; it is not read when t.first.
  void (*step)(const SgdTensor& t, int64_t begin, int64_t end, const SgdHyper& h);
  // Rows [r0, r1) of t viewed as (rows, inner): each row is updated and its float64 sum of squares
  // accumulated in the same pass, then the row (still in cache) is scaled to norm <= h.max_norm.
  void (*step_rows)(const SgdTensor& t, int64_t r0, int64_t r1, const SgdHyper& h);
  // Adds a contiguous segment x[0, n) into the 16 canonical lanes: sq[k % 16] += x[k]^2 and,
  // when abs_acc is not null, abs_acc[k % 16] += |x[k]|, all in float64.
  void (*lanes)(DType dt, const void* x, int64_t n, double* abs_acc, double* sq);
  // acc[m] += x[m]^2 in float64, m in [0, n): the canonical lanes of many short segments at
  // once. When each neuron's segment is shorter than 16 elements, segment element i only ever
  // goes to lane i, so a run of neurons j0..j1 of one outer slab, laid out (j, i), adds
  // element-wise into accumulators laid out the same way (strided max-norm).
  void (*sumsq_add)(DType dt, const void* x, int64_t n, double* acc);
  // x[0, n) *= s, with s rounded once to x's arithmetic type.
  void (*scale)(DType dt, void* x, int64_t n, double s);
  // dst[0, n) = src rounded to nearest even, dst of 16-bit dtype dt (parameters from their
  // float32 master, for tensors whose max-norm rescale ran after the step).
  void (*narrow)(DType dt, void* dst, const float* src, int64_t n);
};

}}  // namespace regcore::cpu
