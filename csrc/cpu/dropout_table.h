// The dropout-family kernels one ISA level provides (plain function pointers and PODs only: this
// header is shared by the baseline dispatcher and every per-ISA translation unit).
//
// Every kernel works on elements [begin, end) of a flat C-order array; begin is a multiple of 32
// (one keep word, core/dropout.h), so threads never share a word of a bit mask. A mask source is
// `bits` (1 bit per element) if non-null, else `bytes` (0 = dropped) if non-null, else the
// stream itself, regenerated from (seed, offset). One entry per op: `dt` names the element type
// of every data array (x, y, bias, residual, dy, dx); scalars arrive in float64, already rounded
// to dt's arithmetic type.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

struct DropoutRule {
  uint64_t seed;
  uint64_t offset;      // first counter block of the call
  uint32_t threshold;   // keep iff word >= threshold
  uint32_t drop_all;    // 1 when threshold would be 2^32 (p = 1)
};

struct DropoutTable {
  // y = keep ? x * scale : +0; writes bits / bytes of the mask when non-null (forward).
  void (*forward)(DType dt, const void* x, void* y, uint32_t* bits, uint8_t* bytes, int64_t begin,
                  int64_t end, const DropoutRule& rule, double scale);
  // dx = keep ? dy * scale : +0, keep from bits, bytes or the stream (backward).
  void (*backward)(DType dt, const void* dy, void* dx, const uint32_t* bits, const uint8_t* bytes,
                   int64_t begin, int64_t end, const DropoutRule& rule, double scale);
  // y = (keep ? act(x + bias[col]) * scale : 0) [+ residual], col = i mod cols.
  void (*bias_act_forward)(DType dt, const void* x, const void* bias, const void* residual, void* y,
                           uint32_t* bits, uint8_t* bytes, int64_t begin, int64_t end, int64_t cols,
                           int act, const DropoutRule& rule, double scale);
  // dx = keep ? dy * scale * act'(x + bias[col]) : 0; dbias_acc[col] += dx in element order.
  // [begin, end) starts at a row boundary.
  void (*bias_act_backward)(DType dt, const void* dy, const void* x, const void* bias,
                            const uint32_t* bits, const uint8_t* bytes, void* dx, double* dbias_acc,
                            int64_t begin, int64_t end, int64_t cols, int act, const DropoutRule& rule,
                            double scale);
  // y = x + (mean + std z) (additive, mean = 0) or x * (mean + std z) (multiplicative, mean = 1),
  // z the stream's standard normal of element i (exactly regcore.random.normal's draw).
  void (*noise)(DType dt, const void* x, void* y, int64_t begin, int64_t end, uint64_t seed,
                uint64_t offset, double mean, double std, int multiplicative);
};

}}  // namespace regcore::cpu
