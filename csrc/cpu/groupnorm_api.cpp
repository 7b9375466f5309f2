#include "groupnorm_api.h"

#include <algorithm>

#include "batchnorm_api.h"
#include "dispatch.h"
#include "groupnorm_channels.h"
#include "parallel.h"
#include "workspace.h"

namespace regcore { namespace cpu {

namespace {

struct BlockTag;   // a block's coefficient arrays (on the thread that runs the block)
struct SumsTag;    // the backward's per-(sample, channel) sums and per-set rstd (on the calling thread)

// f(q0, q1) for blocks of whole sets [q0, q1) of M elements each (sets < NG), on the pool when the
// pass is large enough (bn_on_pool); block boundaries depend only on the shape.
template <class F>
void for_blocks(int64_t NG, int64_t M, int64_t work, F&& f) {
  const int64_t per = M >= kGnBlock ? 1 : kGnBlock / M;
  if (bn_on_pool(work)) return parallel_chunks(NG, per, f);
  for (int64_t q0 = 0; q0 < NG; q0 += per) f(q0, std::min(q0 + per, NG));
}

const void* at(const void* p, int64_t i, DType dt) { return static_cast<const char*>(p) + i * dtype_size(dt); }
void* at(void* p, int64_t i, DType dt) { return static_cast<char*>(p) + i * dtype_size(dt); }

// The four normalize coefficient arrays of a block of nc channels, in one workspace.
template <class Fp>
struct BlockCoefs {
  // `arrays` arrays of nc values, then room for the statistics of nc sets (stats())
  explicit BlockCoefs(int64_t nc, int arrays) : ws(size_t((arrays + 2) * nc)), nc(nc), arrays(arrays) {}
  Fp* arr(int i) { return reinterpret_cast<Fp*>(ws.data() + i * nc); }
  double* stats() { return ws.data() + arrays * nc; }
  BnCoef coef() { return {arr(0), arr(1), arr(2), arr(3)}; }
  // bn_coefficients of channels [j, j + n) of the block, from the statistics (mean, var).
  double set(int64_t j, int64_t n, double mean, double var, double eps, const double* g, const Fp* sh) {
    return gn_set_coefficients<Fp>(mean, var, eps, g, sh, n, arr(0) + j, arr(1) + j, arr(2) + j, arr(3) + j);
  }
  Workspace<BlockTag> ws;
  int64_t nc;
  int arrays;
};

template <class Fp>
void forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, const double* g,
             const Fp* sh, double eps, bool stats_given, double* mean, double* var) {
  const auto& k = active_batchnorm_table();
  const int64_t Cg = C / G, M = Cg * S, NG = N * G;
  const int nt = bn_stream_output(dt, N * C * S);
  for_blocks(NG, M, N * C * S, [&](int64_t q0, int64_t q1) {
    const int64_t nc = (q1 - q0) * Cg;
    BlockCoefs<Fp> kc(nc, 4);
    if (!stats_given) {   // bn_moments of the (1, N*G, M) view: one piece per set, so its merge returns the piece
      double* st = kc.stats();
      k.moments_runs(dt, at(x, q0 * M, dt), M, q1 - q0, st);
      for (int64_t q = q0; q < q1; ++q) {
        mean[q] = st[2 * (q - q0)];
        var[q] = st[2 * (q - q0) + 1] / double(M);
      }
    }
    // the coefficients of every set of the block first: independent square roots and divisions
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c0 = (q % G) * Cg, s = stats_given ? c0 : q;
      kc.set((q - q0) * Cg, Cg, mean[s], var[s], eps, g + c0, sh + c0);
    }
    k.normalize_rows(dt, at(x, q0 * M, dt), at(y, q0 * M, dt), nc, S, 0, nc * S, kc.coef(), 0, nt);
  });
}

template <class Fp>
void backward(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t G, int64_t S,
              const double* g, const Fp* sh, const double* mean, const double* var, double eps, bool batch_stats,
              double* dgamma, double* dbeta) {
  const auto& k = active_batchnorm_table();
  const int64_t Cg = C / G, M = Cg * S, NG = N * G, NC = N * C;
  const int nt = bn_stream_output(dt, N * C * S);
  const int64_t nr = batch_stats ? NG : C;
  // red: the (1, N*C, S) view's sums (sum dy[N*C], then sum dy*xc[N*C]); rstd: per set, or per channel
  Workspace<SumsTag> sums(size_t(2 * NC + nr));
  double* red = sums.data();
  double* rstd = red + 2 * NC;
  if (!batch_stats)
    for (int64_t c = 0; c < C; ++c) rstd[c] = ln_row_coef<Fp>(mean[c], var[c], eps).rstd;
  for_blocks(NG, M, N * C * S, [&](int64_t q0, int64_t q1) {
    const int64_t nc = (q1 - q0) * Cg, i0 = q0 * Cg;   // the block's channels of the (1, N*C, S) view
    BlockCoefs<Fp> kc(nc, 7);
    Fp *ka = kc.arr(4), *kb = kc.arr(5), *kcc = kc.arr(6);
    const void *dyb = at(dy, q0 * M, dt), *xb = at(x, q0 * M, dt);
    // Each step over every set of the block before the next (independent square roots and
    // divisions pipeline): the coefficients, the sums, the dx coefficients.
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c0 = (q % G) * Cg, j = (q - q0) * Cg;
      if (batch_stats) rstd[q] = kc.set(j, Cg, mean[q], var[q], eps, g + c0, sh + c0);
      else
        for (int64_t i = 0; i < Cg; ++i) kc.set(j + i, 1, mean[c0 + i], var[c0 + i], eps, g + c0 + i, sh + c0 + i);
    }
    // bn_grad_reduce of each channel: one piece each (S <= kRowsPiece), added to a zero total
    k.grad_reduce_runs(dt, dyb, xb, S, nc, kc.coef(), 0, red + i0, red + NC + i0);
    for (int64_t i = 0; i < nc; ++i) {
      red[i0 + i] = 0.0 + red[i0 + i];
      red[NC + i0 + i] = 0.0 + red[NC + i0 + i];
    }
    // gn_grad_coefficients of the block's channels
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c0 = (q % G) * Cg, j = (q - q0) * Cg;
      double vb = 0.0, vc = 0.0;
      if (batch_stats)
        gn_set_dx_constants(g + c0, red + i0 + j, red + NC + i0 + j, Cg, rstd[q], double(M), &vb, &vc);
      for (int64_t i = 0; i < Cg; ++i) {
        ka[j + i] = Fp(g[c0 + i] * (batch_stats ? rstd[q] : rstd[c0 + i]));
        kb[j + i] = Fp(vb);
        kcc[j + i] = Fp(vc);
      }
    }
    k.grad_apply_rows(dt, dyb, xb, at(dx, q0 * M, dt), nc, S, 0, nc * S, kc.coef(), BnGradCoef{ka, kb, kcc}, 0, nt);
  });
  gn_param_grads(N, C, G, rstd, red, batch_stats, dgamma, dbeta);
}

}  // namespace

bool gn_fusable(int64_t C, int64_t G, int64_t S) {
  return G > 0 && S > 1 && (C / G) * S <= kRowsPiece;
}

void gn_forward_fused(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, const double* g,
                      const void* sh, double eps, bool stats_given, double* mean, double* var) {
  if (compute_dtype(dt) == DType::f64)
    forward(dt, x, y, N, C, G, S, g, static_cast<const double*>(sh), eps, stats_given, mean, var);
  else
    forward(dt, x, y, N, C, G, S, g, static_cast<const float*>(sh), eps, stats_given, mean, var);
}

void gn_backward_fused(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t G, int64_t S,
                       const double* g, const void* sh, const double* mean, const double* var, double eps,
                       bool batch_stats, double* dgamma, double* dbeta) {
  if (compute_dtype(dt) == DType::f64)
    backward(dt, dy, x, dx, N, C, G, S, g, static_cast<const double*>(sh), mean, var, eps, batch_stats, dgamma, dbeta);
  else
    backward(dt, dy, x, dx, N, C, G, S, g, static_cast<const float*>(sh), mean, var, eps, batch_stats, dgamma, dbeta);
}

}}  // namespace regcore::cpu
