// The weight-init kernels one ISA level provides (plain function pointers, no inline code: this
// type is shared by the baseline dispatcher and every per-ISA translation unit).
// Every kernel fills elements [begin, end) of out (element type dt), element i from counter block
// offset + i/2.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore {
namespace cpu {

struct InitTable {
  void (*trunc_normal)(DType dt, void* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                       double p_lo, double p_span, double mean, double scale, double lo, double hi);
};

}}  // namespace regcore::cpu
