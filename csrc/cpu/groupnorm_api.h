// Group norm's fused passes (instance norm's too: one group per channel) on the CPU, for the
// one-call entry points (groupnorm_step.h) when a group fits a statistics piece (1 < S and
// (C/G)*S <= kRowsPiece, so its statistics are one piece of bn_moments).
//
// The separate passes read x twice in the forward (statistics, then normalize) and dy and x twice
// in the backward (sums, then dx), each time the whole array. These run the same kernels on a
// block of whole groups at a time (about kGnBlock elements), the second kernel while the block
// is still in cache, and give each block to one thread: the same kernel calls on the same
// elements with the same coefficients, so the same bits as the separate passes for any thread
// count (groups are independent; the parameter gradients' sums over the samples run afterwards,
// in sample order, on the calling thread).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace regcore { namespace cpu {

// Elements per block (whole groups, at least one): x and dy of a block stay in L2 between its
// two kernels, and a 1M-element batch still gives 64 blocks to share out.
constexpr int64_t kGnBlock = int64_t(1) << 14;

// Whether the fused passes take an (N, C, S) batch in G groups: see the file comment. Both run
// at every size: with the sets' sums finished a vector of sets at a time (moments_runs,
// grad_reduce_runs) the fused backward measured faster than the separate passes from 64K
// elements on (float32, Zen 4, 1 thread: (4, 64, 16, 16) 29 -> 22 us, (64, 64, 16, 16) in 8
// groups 464 -> 377 us, where the separate passes' second read of dy and x from the last-level
// cache had been the cheaper schedule while each set's totals cost more).
bool gn_fusable(int64_t C, int64_t G, int64_t S);

// g: C values of gamma as float64 (1 without gamma); sh: C values of beta in compute_dtype(dt)
// (0 without beta). N*C > 0.
// stats_given false: mean[N*G], var[N*G] (biased) are outputs, the statistics of each (sample,
// group); true: mean[C], var[C] are the statistics of each channel (G = C), inputs.
// y = normalize(x) with bn_coefficients' per-(sample, channel) coefficients of those statistics.
void gn_forward_fused(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, const double* g,
                      const void* sh, double eps, bool stats_given, double* mean, double* var);

// dx (dt) and the float64 parameter gradients dgamma[C], dbeta[C] (gn_grad_coefficients'), of a
// forward that normalized x with (mean, var): per (sample, group) when batch_stats, per channel
// otherwise (G = C: constants for the gradient). g, sh as gn_forward_fused.
void gn_backward_fused(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t G, int64_t S,
                       const double* g, const void* sh, const double* mean, const double* var, double eps,
                       bool batch_stats, double* dgamma, double* dbeta);

}}  // namespace regcore::cpu
