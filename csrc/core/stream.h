// The stream layout: which Philox counter block feeds element i of a call. This is the public
// contract of docs/random.md; every backend (numpy, cpu at every ISA level, cuda) follows it.
//
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (lo32(b), hi32(b), 0, 0)  with  b = offset + floor(i / E)
//
// where offset is the generator position (in counter blocks) handed to the call and E is the
// number of elements one block of four 32-bit words yields for that draw (4 for 32-bit outputs,
// 2 for 64-bit ones). Nothing depends on thread ids, SIMD width or launch geometry.
#pragma once
#include "philox.h"

REGCORE_CORE_BEGIN

struct StreamKey {
  uint32_t k0, k1;
};

REGCORE_HD StreamKey stream_key(uint64_t seed) {
  return StreamKey{uint32_t(seed), uint32_t(seed >> 32)};
}

// The four words of counter block b, scalar.
REGCORE_HD void stream_block(const StreamKey& key, uint64_t b, uint32_t w[4]) {
  uint32_t c0 = uint32_t(b), c1 = uint32_t(b >> 32), c2 = 0, c3 = 0;
  philox4x32_10(c0, c1, c2, c3, key.k0, key.k1);
  w[0] = c0; w[1] = c1; w[2] = c2; w[3] = c3;
}

// Blocks a call of n elements consumes (and the generator advances by).
REGCORE_HD uint64_t stream_blocks(uint64_t n, uint64_t elems_per_block) {
  return (n + elems_per_block - 1) / elems_per_block;
}

REGCORE_CORE_END
