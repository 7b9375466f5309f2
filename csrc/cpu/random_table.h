// The random-draw kernels one ISA level provides. Plain function pointers: this type is shared
// by the baseline dispatcher and every per-ISA translation unit, so it holds no inline code.
// Every kernel fills elements [begin, end) of out, element i from counter block offset + i/E.
// One entry per draw: `dt` names out's element type (core/dtype.h), and the draw's parameters
// arrive in float64 and are used in dt's arithmetic type (the caller rounded them to it already).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

struct RandomTable {
  void (*bits)(uint32_t* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset);
  void (*uniform)(DType dt, void* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                  double lo, double span, double hi);
  void (*normal)(DType dt, void* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                 double mean, double std);
};

}}  // namespace regcore::cpu
