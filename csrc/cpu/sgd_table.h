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
  // x[0, n) *= s
  void (*scale_f32)(float* x, int64_t n, float s);
  void (*scale_f64)(double* x, int64_t n, double s);
};

}}  // namespace regcore::cpu
