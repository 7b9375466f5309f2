// Channel (spatial) dropout and alpha dropout cases (dropout family; csrc/cpu/channel_dropout_api.h),
// shared by the CPU case file and any CUDA one. Channel dropout runs as torch's dropout2d is used
// after a convolution: (n/65536, 64, 32, 32) activations, p = 0.5, 1 bit per (sample, channel)
// kept. Its minimum traffic is stated as the one-pass kernel's (read x, write y, the N*C/8-byte
// mask): regcore writes dropped channels without reading them, so its GB/s at p = 0.5 can exceed
// a copy's; the copy baseline of the same n is the yardstick (docs/dropout.md).
#pragma once
#include <string>

#include "spec_dropout.h"

namespace regcore { namespace bench { namespace spec {

constexpr int64_t kChanC = 64, kChanS = 32 * 32;
constexpr double kChanP = 0.5, kAlphaP = 0.1;
inline int64_t chan_decisions(int64_t n) { return n / kChanS; }  // N * C

template <class T>
CaseSpec channel_spec(const char* kernel, const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base(kernel, dtype);
  const std::string sn = std::to_string(s) + "n";
  c.bytes_formula = "read " + sn + " + write " + sn + " + NC/8 (bits), (N, 64, 32, 32)";
  c.min_bytes = [s](int64_t n) { return 2 * s * n + bit_bytes(chan_decisions(n)); };
  c.state_formula = "NC/8 (bit mask)";
  c.state_bytes = [](int64_t n) { return bit_bytes(chan_decisions(n)); };
  c.sizes = {int64_t(1) << 22, int64_t(1) << 24};  // 64 and 256 samples (DRAM)
  c.quick_sizes = {int64_t(1) << 16, int64_t(1) << 20};
  c.shape = "(n/65536, 64, 32, 32)";
  return c;
}

// Element-wise alpha dropout, p = 0.1, bit mask: read x, write y and n/8.
template <class T>
CaseSpec alpha_spec(const char* dtype) {
  const int64_t s = sizeof(T);
  CaseSpec c = dropout_base("alpha_forward", dtype);
  const std::string sn = std::to_string(s) + "n";
  c.bytes_formula = with_mask("read " + sn + " + write " + sn, kBits, "");
  c.min_bytes = [s](int64_t n) { return 2 * s * n + bit_bytes(n); };
  c.state_formula = "n/8 (bit mask)";
  c.state_bytes = [](int64_t n) { return bit_bytes(n); };
  return c;
}

}}}  // namespace regcore::bench::spec
