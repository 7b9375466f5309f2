// The penalized-SGD kernels one ISA level provides (plain function pointers; see random_table.h).
// Every kernel works on a range the baseline layer chose with fixed boundaries, and every sum
// follows the canonical 16-lane order of core/sgd_rule.h, so results do not depend on the ISA
// level or the thread count.
#pragma once
#include <cstdint>

#include "../core/sgd_params.h"

namespace regcore { namespace cpu {

struct SgdTable {
  // Elements [begin, end) of one tensor. b is null without momentum; it is not read when first.
  void (*step_f32)(float* w, const float* g, float* b, int64_t begin, int64_t end, bool first,
                   const SgdParams<float>& p);
  void (*step_f64)(double* w, const double* g, double* b, int64_t begin, int64_t end, bool first,
                   const SgdParams<double>& p);
  // Rows [r0, r1) of a (rows, len) tensor: each row is updated and its float64 sum of squares
  // accumulated in the same pass, then the row (still in cache) is scaled to norm <= max_norm.
  void (*step_rows_f32)(float* w, const float* g, float* b, int64_t r0, int64_t r1, int64_t len,
                        bool first, const SgdParams<float>& p, double max_norm);
  void (*step_rows_f64)(double* w, const double* g, double* b, int64_t r0, int64_t r1, int64_t len,
                        bool first, const SgdParams<double>& p, double max_norm);
  // Adds a contiguous segment x[0, n) into the 16 canonical lanes: sq[k % 16] += x[k]^2 and,
  // when abs_acc is not null, abs_acc[k % 16] += |x[k]|, all in float64.
  void (*lanes_f32)(const float* x, int64_t n, double* abs_acc, double* sq);
  void (*lanes_f64)(const double* x, int64_t n, double* abs_acc, double* sq);
  // acc[m] += x[m]^2 in float64, m in [0, n): the canonical lanes of many short segments at
  // once. When each neuron's segment is shorter than 16 elements, segment element i only ever
  // goes to lane i, so a run of neurons j0..j1 of one outer slab, laid out (j, i), adds
  // element-wise into accumulators laid out the same way (strided max-norm).
  void (*sumsq_add_f32)(const float* x, int64_t n, double* acc);
  void (*sumsq_add_f64)(const double* x, int64_t n, double* acc);
  // x[0, n) *= s
  void (*scale_f32)(float* x, int64_t n, float s);
  void (*scale_f64)(double* x, int64_t n, double s);
};

}}  // namespace regcore::cpu
