#include "layernorm_api.h"

#include <vector>

#include "dispatch.h"
#include "parallel.h"

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

template <class T> const LayerNormKernels<T>& kern();
template <> const LayerNormKernels<float>& kern<float>() { return active_layernorm_table().f32; }
template <> const LayerNormKernels<double>& kern<double>() { return active_layernorm_table().f64; }

}  // namespace

template <class T> void ln_normalize(const T* x, T* y, int64_t R, int64_t L, LnCoef<T> k) {
  const auto& kr = kern<T>();
  parallel_chunks(R, piece_rows(L), [&](int64_t r0, int64_t r1) { kr.normalize(x, y, L, r0, r1, k); });
}

template <class T>
void ln_grad_reduce(const T* dy, const T* x, int64_t R, int64_t L, LnCoef<T> k, double* row_out,
                    double* col_out) {
  const auto& kr = kern<T>();
  for (int64_t i = 0; i < 2 * L; ++i) col_out[i] = 0.0;
  auto parts = parallel_chunk_partials<std::vector<double>>(R, reduce_rows(R, L), [&](int64_t, int64_t r0, int64_t r1) {
    std::vector<double> v(size_t(2 * L));
    kr.grad_reduce(dy, x, L, r0, r1, k, row_out, v.data(), v.data() + L);
    return v;
  });
  for (const auto& v : parts)
    for (int64_t i = 0; i < 2 * L; ++i) col_out[i] += v[size_t(i)];
}

template <class T>
void ln_grad_apply(const T* dy, const T* x, T* dx, int64_t R, int64_t L, LnCoef<T> k, const T* kb,
                   const T* kc) {
  const auto& kr = kern<T>();
  parallel_chunks(R, piece_rows(L), [&](int64_t r0, int64_t r1) { kr.grad_apply(dy, x, dx, L, r0, r1, k, kb, kc); });
}

#define REGCORE_LN_INSTANTIATE(T)                                                                   \
  template void ln_normalize<T>(const T*, T*, int64_t, int64_t, LnCoef<T>);                         \
  template void ln_grad_reduce<T>(const T*, const T*, int64_t, int64_t, LnCoef<T>, double*, double*); \
  template void ln_grad_apply<T>(const T*, const T*, T*, int64_t, int64_t, LnCoef<T>, const T*, const T*);
REGCORE_LN_INSTANTIATE(float)
REGCORE_LN_INSTANTIATE(double)
#undef REGCORE_LN_INSTANTIATE

}}  // namespace regcore::cpu
