// The dropout-family kernels one ISA level provides (plain function pointers and PODs only: this
// header is shared by the baseline dispatcher and every per-ISA translation unit).
//
// Every kernel works on elements [begin, end) of a flat C-order array; begin is a multiple of 32
// (one keep word, core/dropout.h), so threads never share a word of a bit mask. A mask source is
// `bits` (1 bit per element) if non-null, else `bytes` (0 = dropped) if non-null, else the
// stream itself, regenerated from (seed, offset).
#pragma once
#include <cstdint>

namespace regcore { namespace cpu {

struct DropoutRule {
  uint64_t seed;
  uint64_t offset;      // first counter block of the call
  uint32_t threshold;   // keep iff word >= threshold
  uint32_t drop_all;    // 1 when threshold would be 2^32 (p = 1)
};

struct DropoutTable {
  // y = keep ? x * scale : +0; writes bits / bytes of the mask when non-null (forward).
  void (*forward_f32)(const float* x, float* y, uint32_t* bits, uint8_t* bytes, int64_t begin,
                      int64_t end, const DropoutRule& rule, float scale);
  void (*forward_f64)(const double* x, double* y, uint32_t* bits, uint8_t* bytes, int64_t begin,
                      int64_t end, const DropoutRule& rule, double scale);
  // dx = keep ? dy * scale : +0, keep from bits, bytes or the stream (backward).
  void (*backward_f32)(const float* dy, float* dx, const uint32_t* bits, const uint8_t* bytes,
                       int64_t begin, int64_t end, const DropoutRule& rule, float scale);
  void (*backward_f64)(const double* dy, double* dx, const uint32_t* bits, const uint8_t* bytes,
                       int64_t begin, int64_t end, const DropoutRule& rule, double scale);
  // y = (keep ? act(x + bias[col]) * scale : 0) [+ residual], col = i mod cols.
  void (*bias_act_forward_f32)(const float* x, const float* bias, const float* residual, float* y,
                               uint32_t* bits, uint8_t* bytes, int64_t begin, int64_t end,
                               int64_t cols, int act, const DropoutRule& rule, float scale);
  void (*bias_act_forward_f64)(const double* x, const double* bias, const double* residual,
                               double* y, uint32_t* bits, uint8_t* bytes, int64_t begin,
                               int64_t end, int64_t cols, int act, const DropoutRule& rule,
                               double scale);
  // dx = keep ? dy * scale * act'(x + bias[col]) : 0; dbias_acc[col] += dx in element order.
  // [begin, end) starts at a row boundary.
  void (*bias_act_backward_f32)(const float* dy, const float* x, const float* bias,
                                const uint32_t* bits, const uint8_t* bytes, float* dx,
                                double* dbias_acc, int64_t begin, int64_t end, int64_t cols,
                                int act, const DropoutRule& rule, float scale);
  void (*bias_act_backward_f64)(const double* dy, const double* x, const double* bias,
                                const uint32_t* bits, const uint8_t* bytes, double* dx,
                                double* dbias_acc, int64_t begin, int64_t end, int64_t cols,
                                int act, const DropoutRule& rule, double scale);
  // y = x + (mean + std z) (additive, mean = 0) or x * (mean + std z) (multiplicative, mean = 1),
  // z the stream's standard normal of element i (exactly regcore.random.normal's draw).
  void (*noise_f32)(const float* x, float* y, int64_t begin, int64_t end, uint64_t seed,
                    uint64_t offset, float mean, float std, int multiplicative);
  void (*noise_f64)(const double* x, double* y, int64_t begin, int64_t end, uint64_t seed,
                    uint64_t offset, double mean, double std, int multiplicative);
};

}}  // namespace regcore::cpu
