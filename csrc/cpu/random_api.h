// Whole-array random fills on the CPU: the active ISA's kernel over fixed chunks in parallel.
// out's element type is dt (core/dtype.h); the parameters are already rounded to its arithmetic
// type (regcore.random computes them).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset);
void fill_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span,
                  double hi);
void fill_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);

}}  // namespace regcore::cpu
