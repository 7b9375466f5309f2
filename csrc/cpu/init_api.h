// Whole-array weight-init kernels on the CPU (element type dt, core/dtype.h).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// Truncated normal (core/init_transforms.h): the active ISA's kernel over fixed chunks.
void fill_trunc_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double p_lo,
                       double p_span, double mean, double scale, double lo, double hi);

// Sparse init selection: w is (rows, fan_in) in C order and keys holds one uint32 per element.
// In each row, keep the k entries with the smallest (key, column) pairs and zero the rest: a
// selection that depends on the stream words only, so every backend keeps the same entries.
void sparse_keep_smallest(DType dt, void* w, const uint32_t* keys, int64_t rows, int64_t fan_in, int64_t k);

}}  // namespace regcore::cpu
