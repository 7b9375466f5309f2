// philox4x32_10 (core/philox.h) of W consecutive counter blocks in SIMD lanes, for the per-ISA
// kernels that draw the stream (stream_generate.h, dropout_mask.h). Same words as philox4x32_10
// run on VU32 lanes; fewer vector operations.
//
// Why not VU32 lanes: a 32 x 32 -> 64-bit multiply (vpmuludq) reads only the even 32-bit lanes,
// so in VU32 form each round's two mulhilo32 need a shuffle for the odd lanes and shuffles or
// blends to rebuild hi and lo (~16 operations a round for W blocks, half the Philox cost). Here
// the W blocks run as two groups of W/2, even blocks and odd blocks, one block per 64-bit lane
// with its words in the low 32 bits: the product leaves lo in place and hi one shift away. What
// the high 32 bits of a lane hold is never read (the multiply reads low words, the XORs are
// lane-wise, the last step keeps low words), so nothing clears them. ~12 operations a round
// (AVX-512: 4 multiplies, 4 shifts, 4 three-way XORs) plus 4 to interleave the halves at the end.
#pragma once
#include "../../core/stream.h"
#include "../simd/vec.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {

#if REGCORE_SIMD_W > 1
// Lane l of w[k]: word k of counter block b0 + l. The low counter word must not wrap inside the
// group (uint32_t(b0) <= 0xFFFFFFFF - (W - 1)): the callers take single blocks there.
REGCORE_HD void philox_lanes(uint64_t b0, const StreamKey& key, VU32 w[4]) {
  const VU64 even = widen_u64(lo_half(lane_iota())) << 1;  // 0, 2, 4, ...: block offsets
  const VU64 lo{uint64_t(uint32_t(b0))}, hi{b0 >> 32}, zero{uint64_t(0)};
  VU64 c0[2] = {lo + even, lo + even + VU64(uint64_t(1))};
  VU64 c1[2] = {hi, hi}, c2[2] = {zero, zero}, c3[2] = {zero, zero};
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
    const VU64 vk0{uint64_t(k0)}, vk1{uint64_t(k1)};
    for (int h = 0; h < 2; ++h) {
      const VU64 p0 = mul_wide32(c0[h], PHILOX_M0), p1 = mul_wide32(c2[h], PHILOX_M1);
      c0[h] = (p1 >> 32) ^ c1[h] ^ vk0;
      c2[h] = (p0 >> 32) ^ c3[h] ^ vk1;
      c1[h] = p1;
      c3[h] = p0;
    }
  }
  w[0] = interleave_lo32(c0[0], c0[1]);
  w[1] = interleave_lo32(c1[0], c1[1]);
  w[2] = interleave_lo32(c2[0], c2[1]);
  w[3] = interleave_lo32(c3[0], c3[1]);
}
#endif

}  // namespace isa_kernels
REGCORE_CORE_END
