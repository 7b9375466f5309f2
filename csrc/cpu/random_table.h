// The random-draw kernels one ISA level provides. Plain function pointers: this type is shared
// by the baseline dispatcher and every per-ISA translation unit, so it holds no inline code.
// Every kernel fills elements [begin, end) of out, element i from counter block offset + i/E.
#pragma once
#include <cstdint>

namespace regcore { namespace cpu {

struct RandomTable {
  void (*bits_u32)(uint32_t* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset);
  void (*uniform_f32)(float* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                      float lo, float span, float hi);
  void (*uniform_f64)(double* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                      double lo, double span, double hi);
  void (*normal_f32)(float* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                     float mean, float std);
  void (*normal_f64)(double* out, int64_t begin, int64_t end, uint64_t seed, uint64_t offset,
                     double mean, double std);
};

}}  // namespace regcore::cpu
