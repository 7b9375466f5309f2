// Whole-array dropout-family entry points on the CPU: the active ISA's kernels over fixed chunks
// in parallel. Chunk starts are multiples of 32 elements (whole keep words), and the dbias
// reduction is combined in chunk order, so every result is the same for any thread count. `dt`
// (core/dtype.h) is the element type of every data array; scalars are in float64, already rounded
// to dt's arithmetic type.
#pragma once
#include <cstdint>

#include "dropout_table.h"

namespace regcore { namespace cpu {

void dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, double scale);
void dropout_backward(DType dt, const void* dy, void* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, double scale);
void bias_act_forward(DType dt, const void* x, const void* bias, const void* residual, void* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule, double scale);
// dbias (length cols) = column sums of dx, accumulated in double per chunk of rows, rounded once.
void bias_act_backward(DType dt, const void* dy, const void* x, const void* bias, const uint32_t* bits,
                       const uint8_t* bytes, void* dx, void* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, double scale);
void gaussian_noise(DType dt, const void* x, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                    double std, bool multiplicative);

}}  // namespace regcore::cpu
