// Whole-array random fills on the CPU: the active ISA's kernel over fixed chunks in parallel.
#pragma once
#include <cstdint>

namespace regcore { namespace cpu {

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset);
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float span, float hi);
void fill_uniform(double* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span, double hi);
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std);
void fill_normal(double* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);

}}  // namespace regcore::cpu
