// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC11), exactly as published with Random123. Written once as a template over the lane type U,
// so scalar C++, every SIMD width (U = a vector of 32-bit lanes) and CUDA share this code.
#pragma once
#include "scalar_ops.h"

REGCORE_CORE_BEGIN

constexpr uint32_t PHILOX_M0 = 0xD2511F53u;
constexpr uint32_t PHILOX_M1 = 0xCD9E8D57u;
constexpr uint32_t PHILOX_W0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t PHILOX_W1 = 0xBB67AE85u;  // sqrt(3) - 1

// c[0..3]: the counter, replaced by the four output words. k0, k1: the key.
template <class U>
REGCORE_HD void philox4x32_10(U& c0, U& c1, U& c2, U& c3, uint32_t k0, uint32_t k1) {
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
    U hi0, lo0, hi1, lo1;
    mulhilo32(c0, PHILOX_M0, hi0, lo0);
    mulhilo32(c2, PHILOX_M1, hi1, lo1);
    U n0 = hi1 ^ c1 ^ U(k0);
    U n2 = hi0 ^ c3 ^ U(k1);
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
}

REGCORE_CORE_END
