// Channel (spatial) dropout and alpha dropout: the per-element formula and the index map from an
// element to its keep decision, shared by every backend (numpy mirrors it in
// python/regcore/_backends/numpy_backend/channel_dropout.py; docs/dropout.md states it in prose).
//
// Keep decisions. Channel dropout makes one decision per (sample n, channel c): decision
// k = n * C + c reads stream element k exactly as dropout's element k does (core/dropout.h), so
// the decisions of an (N, C, ...) input are the mask regular dropout draws for an (N, C) array
// from the same generator state, whatever the layout and the spatial size. They are kept as
// keep words (bit k mod 32 of word k / 32), stored or regenerated; element i of the data reads
// decision
//   channels-first (N, C, *spatial), S = prod(spatial):  k = i / S
//   channels-last  (N, *spatial, C):                      k = (i / (S C)) C + i mod C.
//
// Masked affine map (one formula for the four ops):
//   plain  (channel dropout, and every backward):  y = keep ? x * s : +0
//   affine (alpha / feature alpha dropout forward): y = keep ? x * s + b : d
// with s, b, d computed once in float64 by the Python layer and rounded to the arithmetic type.
// For alpha dropout (PyTorch's formulas, alpha' = -lambda alpha of SELU = -1.7580993408473766):
//   s = a = ((1 - p)(1 + p alpha'^2))^(-1/2),  b = -a alpha' p,  d = a alpha' + b,
// so dropped units sit at SELU's negative saturation value and the output keeps zero mean and
// unit variance. Separate multiply and add (never fused: -ffp-contract=off, --fmad=false).
#pragma once
#include <cstdint>

#include "config.h"

REGCORE_CORE_BEGIN

enum ChannelLayout : int { CHANNELS_FIRST = 0, CHANNELS_LAST = 1 };

// Keep decision index of element i (see above); C channels, S spatial elements per channel.
REGCORE_HD int64_t channel_decision(int64_t i, int64_t C, int64_t S, int layout) {
  if (layout == CHANNELS_FIRST) return i / S;
  return (i / (S * C)) * C + i % C;
}

// Bit k of a keep-word array.
REGCORE_HD uint32_t keep_bit_at(const uint32_t* words, int64_t k) {
  return (words[k >> 5] >> (k & 31)) & 1u;
}

// cnt (1..32) consecutive bits of a keep-word array starting at bit k, in bit 0..cnt-1.
REGCORE_HD uint32_t keep_bits_at(const uint32_t* words, int64_t k, int cnt) {
  const int64_t q = k >> 5;
  const int sh = int(k & 31);
  uint64_t v = words[q] >> sh;
  if (sh + cnt > 32) v |= uint64_t(words[q + 1]) << (32 - sh);
  return cnt == 32 ? uint32_t(v) : uint32_t(v) & ((1u << cnt) - 1u);
}

// One element of the masked affine map, in the arithmetic type T.
template <bool AFFINE, class T>
REGCORE_HD T masked_affine(uint32_t keep, T x, T s, T b, T d) {
  if (AFFINE) return keep ? x * s + b : d;
  return keep ? x * s : T(0);
}

REGCORE_CORE_END
