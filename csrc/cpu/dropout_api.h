// Whole-array dropout-family entry points on the CPU: the active ISA's kernels over fixed chunks
// in parallel. Chunk starts are multiples of 32 elements (whole keep words), and the dbias
// reduction is combined in chunk order, so every result is the same for any thread count.
#pragma once
#include <cstdint>

#include "dropout_table.h"

namespace regcore { namespace cpu {

template <class T>
void dropout_forward(const T* x, T* y, uint32_t* bits, uint8_t* bytes, int64_t n,
                     const DropoutRule& rule, T scale);
template <class T>
void dropout_backward(const T* dy, T* dx, const uint32_t* bits, const uint8_t* bytes, int64_t n,
                      const DropoutRule& rule, T scale);
template <class T>
void bias_act_forward(const T* x, const T* bias, const T* residual, T* y, uint32_t* bits,
                      uint8_t* bytes, int64_t n, int64_t cols, int act, const DropoutRule& rule,
                      T scale);
// dbias (length cols) = column sums of dx, accumulated in double per chunk of rows.
template <class T>
void bias_act_backward(const T* dy, const T* x, const T* bias, const uint32_t* bits,
                       const uint8_t* bytes, T* dx, T* dbias, int64_t n, int64_t cols, int act,
                       const DropoutRule& rule, T scale);
template <class T>
void gaussian_noise(const T* x, T* y, int64_t n, uint64_t seed, uint64_t offset, T mean, T std,
                    bool multiplicative);

}}  // namespace regcore::cpu
