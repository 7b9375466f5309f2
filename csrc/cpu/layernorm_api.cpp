#include "layernorm_api.h"

#include <vector>

#include "dispatch.h"
#include "parallel.h"
#include "workspace.h"

namespace regcore { namespace cpu {

namespace {

// Rows per piece: about kStreamChunk elements, at least one row.
inline int64_t piece_rows(int64_t L) { return L >= kStreamChunk ? 1 : kStreamChunk / (L > 0 ? L : 1); }

// The reduction keeps 2L float64 column sums per piece; at most kMaxReducePieces pieces bound
// that memory to 32*L doubles whatever R is (it also bounds the reduction's parallelism).
constexpr int64_t kMaxReducePieces = 16;
inline int64_t reduce_rows(int64_t R, int64_t L) {
  const int64_t cap = (R + kMaxReducePieces - 1) / kMaxReducePieces;
  const int64_t p = piece_rows(L);
  return p > cap ? p : (cap > 0 ? cap : 1);
}

// Where a piece's dbeta column sums start after its dgamma sums (both L doubles, in one slab):
// 2 KiB past a multiple of 4 KiB away. At a distance of a multiple of 4 KiB (L = 1024 back to
// back), every load of a dbeta sum came right after the store of the dgamma sum with the same
// address bits below 4 KiB, which the processor holds as a possible dependency (4K aliasing): the
// reduction ran at half speed or not, depending on where the buffer landed.
inline int64_t db_offset(int64_t L) { return L + ((2048 + 4096 - (8 * L) % 4096) % 4096) / 8; }

}  // namespace

void ln_normalize(DType dt, const void* x, void* y, int64_t R, int64_t L, const LnCoef& k) {
  const auto& kr = active_layernorm_table();
  parallel_chunks(R, piece_rows(L), [&](int64_t r0, int64_t r1) { kr.normalize(dt, x, y, L, r0, r1, k); });
}

void ln_grad_reduce(DType dt, const void* dy, const void* x, int64_t R, int64_t L, const LnCoef& k, double* row_out,
                    double* col_out) {
  const auto& kr = active_layernorm_table();
  for (int64_t i = 0; i < 2 * L; ++i) col_out[i] = 0.0;
  const int64_t off = db_offset(L);
  auto parts = parallel_chunk_partials<std::vector<double>>(R, reduce_rows(R, L), [&](int64_t, int64_t r0, int64_t r1) {
    std::vector<double> v(size_t(off + L));
    kr.grad_reduce(dt, dy, x, L, r0, r1, k, row_out, v.data(), v.data() + off);
    return v;
  });
  for (const auto& v : parts)
    for (int64_t i = 0; i < 2 * L; ++i) col_out[i] += v[size_t(i < L ? i : i - L + off)];
}

void ln_forward_rows(DType dt, const void* x, void* y, int64_t R, int64_t L, const LnCoef& k, double eps, double* mean,
                     double* var) {
  const auto& kr = active_layernorm_table();
  parallel_chunks(R, piece_rows(L), [&](int64_t r0, int64_t r1) { kr.forward(dt, x, y, L, r0, r1, k, eps, mean, var); });
}

void ln_backward_rows(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, const LnCoef& k,
                      const double* rstd, double* col_out) {
  const auto& kr = active_layernorm_table();
  const int64_t rows = reduce_rows(R, L), pieces = chunk_count(R, rows), off = db_offset(L), slab = off + L;
  struct Parts;   // the pieces' column sums
  Workspace<Parts> part(size_t(slab * pieces));
  double* p = part.data();
  parallel_chunks(R, rows, [&](int64_t r0, int64_t r1) {
    double* v = p + slab * (r0 / rows);
    kr.backward(dt, dy, x, dx, L, r0, r1, k, rstd, v, v + off);
  });
  for (int64_t i = 0; i < 2 * L; ++i) col_out[i] = 0.0;
  for (int64_t q = 0; q < pieces; ++q)
    for (int64_t i = 0; i < 2 * L; ++i) col_out[i] += p[slab * q + (i < L ? i : i - L + off)];
}

void ln_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t R, int64_t L, const LnCoef& k,
                   const void* kb, const void* kc) {
  const auto& kr = active_layernorm_table();
  parallel_chunks(R, piece_rows(L), [&](int64_t r0, int64_t r1) { kr.grad_apply(dt, dy, x, dx, L, r0, r1, k, kb, kc); });
}

}}  // namespace regcore::cpu
