// Batch normalization's shared specification (cases_batchnorm.cpp, cuda/cases_batchnorm_cuda.cpp)
// on the layer shapes of the issue: NCHW (N, 64, 56, 56), the same channels-last (N, 56, 56, 64),
// and 2-D (N, 1024). n = N * C * H * W, so the cases run at the batch sizes their shape allows
// (N = 32 in a full run, the size).
// Minimum bytes (docs/batchnorm.md, B = bytes of x): training forward 3B (read x for the
// statistics, read x and write y), backward 5B (read dy, x for the reductions; read dy, x and
// write dx), inference 2B. Per-channel vectors are counted too (gamma, beta, running stats).
// The 2-D layout also times the statistics pass alone (B + the (3, C) float64 result): it shows
// where the cache-resident 2-D passes are bound by float64 arithmetic rather than by memory.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "spec_common.h"

namespace regcore { namespace bench { namespace spec {

struct Layout {
  const char* suffix;   // kernel name suffix
  const char* shape;    // for the report
  int64_t C, S;         // channels; spatial run length (1 for channels-last and 2-D)
  int64_t per_n;        // elements of one sample (N = n / per_n)
};
// NCHW: (N, C, S) rows kernels. Channels-last: N*H*W rows of C, the cols kernels (S = 1).
constexpr Layout kNchw{"nchw", "(n/200704, 64, 56, 56)", 64, 56 * 56, 64 * 56 * 56};
constexpr Layout kNhwc{"nhwc", "(n/200704, 56, 56, 64) channels-last", 64, 1, 64 * 56 * 56};
constexpr Layout k2d{"nc", "(n/1024, 1024)", 1024, 1, 1024};

enum Pass { kForward, kBackward, kInference, kStats };

inline std::vector<int64_t> batches(const Layout& l, std::vector<int64_t> ns) {
  for (int64_t& v : ns) v *= l.per_n;
  return ns;
}

// A case's n must hold whole samples of its layout.
inline void check_batch(const Layout& l, int64_t n) {
  if (n % l.per_n != 0)
    throw std::invalid_argument("n: batch norm case " + std::string(l.shape) +
                                " needs a multiple of " + std::to_string(l.per_n));
}

// Per-channel vectors (gamma, beta, running statistics, coefficients) are of the compute type:
// float32 for 16-bit data (the mixed parameters), so they count 4 bytes each there.
template <class T>
CaseSpec bn_spec(const Layout& l, Pass pass, const char* dtype) {
  const int64_t s = sizeof(T);
  const int64_t C = l.C;
  std::string sz = std::to_string(s);
  const int64_t pc = s < 4 ? 4 : s;   // bytes of one per-channel value
  const std::string pz = std::to_string(pc);
  std::string formula =
      pass == kForward ? "read " + sz + "n (stats) + read " + sz + "n + write " + sz + "n + 2" + pz + "C (gamma, beta)"
    : pass == kBackward ? "read 2x" + sz + "n (dy, x: sums) + read 2x" + sz + "n + write " + sz + "n + " + pz + "C (gamma) + 2" + pz + "C (dgamma, dbeta)"
    : pass == kInference ? "read " + sz + "n + write " + sz + "n + 4" + pz + "C (gamma, beta, running mean, var)"
                         : "read " + sz + "n + write 24C (count, mean, M2 in float64)";
  formula += ", C = " + std::to_string(C);
  const bool two_d = l.C == 1024;
  CaseSpec c{};
  c.family = "batchnorm";
  c.kernel = std::string(pass == kForward ? "forward_" : pass == kBackward ? "backward_"
                         : pass == kInference ? "inference_" : "stats_") + l.suffix;
  c.dtype = dtype;
  c.bytes_formula = formula;
  c.min_bytes = [pass, s, pc, C](int64_t n) -> int64_t {
    if (pass == kForward) return 3 * s * n + 2 * pc * C;
    if (pass == kBackward) return 5 * s * n + 3 * pc * C;
    if (pass == kInference) return 2 * s * n + 4 * pc * C;
    return s * n + 24 * C;
  };
  // Saved for backward: float64 mean, var, rstd and four coefficient vectors of the data type;
  // x itself is the caller's (referenced, not copied).
  c.state_formula = pass == kForward ? "24C + 4" + pz + "C (mean, var, rstd in float64; 4 coefficient vectors)" : "0";
  c.state_bytes = [pass, pc, C](int64_t) -> int64_t { return pass == kForward ? 24 * C + 4 * pc * C : 0; };
  c.items = "elements";
  // Full run: the batch (N = 32 images; 256 rows for 2-D) and a cache-sized one; for 2-D
  // also 4096 rows (16 MiB), beyond the caches, where memory rather than arithmetic bounds a pass.
  c.sizes = two_d ? std::vector<int64_t>{64 * 1024, 256 * 1024, 4096 * 1024} : batches(l, {1, 32});
  c.quick_sizes = two_d ? std::vector<int64_t>{64 * 1024} : batches(l, {1});
  c.shape = l.shape;
  return c;
}

}}}  // namespace regcore::bench::spec

// Registers the family's cases of one dtype, in registration order, as the case file builds them
// with bn_case<T>(Layout, Pass, dtype); expanded once per dtype.
#define REGCORE_BN_REGISTER_CASES(T, DT, SUF)                                           \
  const Register r_fwd_nchw_##SUF{bn_case<T>(spec::kNchw, spec::kForward, DT)};        \
  const Register r_bwd_nchw_##SUF{bn_case<T>(spec::kNchw, spec::kBackward, DT)};       \
  const Register r_inf_nchw_##SUF{bn_case<T>(spec::kNchw, spec::kInference, DT)};      \
  const Register r_fwd_nhwc_##SUF{bn_case<T>(spec::kNhwc, spec::kForward, DT)};        \
  const Register r_bwd_nhwc_##SUF{bn_case<T>(spec::kNhwc, spec::kBackward, DT)};       \
  const Register r_inf_nhwc_##SUF{bn_case<T>(spec::kNhwc, spec::kInference, DT)};      \
  const Register r_fwd_nc_##SUF{bn_case<T>(spec::k2d, spec::kForward, DT)};            \
  const Register r_bwd_nc_##SUF{bn_case<T>(spec::k2d, spec::kBackward, DT)};           \
  const Register r_inf_nc_##SUF{bn_case<T>(spec::k2d, spec::kInference, DT)};          \
  const Register r_sta_nc_##SUF{bn_case<T>(spec::k2d, spec::kStats, DT)};
