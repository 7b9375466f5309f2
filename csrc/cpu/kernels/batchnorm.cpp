// Batch-normalization kernels, compiled once per ISA level. Element math comes from
// core/batchnorm.h; this file only walks the layouts and feeds SIMD lanes.
//
// Accumulation: float64 lanes for both dtypes (float32 data is widened first). In the rows layout
// the lanes run along the contiguous spatial run and are summed once per piece; in the cols layout
// the lanes are separate channels and each channel is accumulated in row order, so the cols
// statistics are the same bits at every ISA level.
#include "../simd/vec.h"
#include "../../core/batchnorm.h"
#include "../batchnorm_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

using cpu::BnCoef;
using cpu::BnGradCoef;

#include "norm_accumulate.h"

// f(offset, len) for every contiguous run of channel c's channel-flat elements [i0, i1).
template <class Fn>
REGCORE_HD void for_runs(int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1, Fn&& f) {
  for (int64_t i = i0; i < i1;) {
    const int64_t n = i / S, s = i - n * S;
    const int64_t len = (S - s < i1 - i) ? S - s : i1 - i;
    f((n * C + c) * S + s, len);
    i += len;
  }
}
// f(j, c, len) for every run of the flat range [j0, j1) inside one (n, c) row of length S.
template <class Fn>
REGCORE_HD void for_rows(int64_t C, int64_t S, int64_t j0, int64_t j1, Fn&& f) {
  for (int64_t j = j0; j < j1;) {
    const int64_t row = j / S, s = j - row * S;
    const int64_t len = (S - s < j1 - j) ? S - s : j1 - j;
    f(j, row % C, len);
    j += len;
  }
}

// ---------------------------------------------------------------- statistics

template <class T> void span_sum(Acc& A, const T* p, int64_t len) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t L = lanes<T>::n;
  for (; k + 2 * L <= len; k += 2 * L) {
    acc_add(A.a0, A.a1, vload(p + k));
    acc_add(A.a2, A.a3, vload(p + k + L));
  }
  for (; k + L <= len; k += L) acc_add(A.a0, A.a1, vload(p + k));
#endif
  for (; k < len; ++k) A.s += widen(p[k]);
}
template <class T> void span_sqdev(Acc& A, const T* p, int64_t len, double m) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t L = lanes<T>::n;
  const VF64 vm(m);
  for (; k + 2 * L <= len; k += 2 * L) {
    acc_sqdev(A.a0, A.a1, vload(p + k), vm);
    acc_sqdev(A.a2, A.a3, vload(p + k + L), vm);
  }
  for (; k + L <= len; k += L) acc_sqdev(A.a0, A.a1, vload(p + k), vm);
#endif
  for (; k < len; ++k) {
    const double d = widen(p[k]) - m;
    A.s += d * d;
  }
}

// Two passes over one cache-sized piece: the mean, then the centered sum of squares. The second
// pass reads from cache, so the piece costs one trip to memory and no E[x^2] - E[x]^2 cancellation.
template <class T>
void moments_rows(const T* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1, double out[2]) {
  Acc A;
  for_runs(C, S, c, i0, i1, [&](int64_t off, int64_t len) { span_sum(A, x + off, len); });
  const double mean = A.total() / double(i1 - i0);
  Acc B;
  for_runs(C, S, c, i0, i1, [&](int64_t off, int64_t len) { span_sqdev(B, x + off, len, mean); });
  out[0] = mean;
  out[1] = B.total();
}

#if REGCORE_SIMD_W > 1
// Channels-last statistics, one block of 4 vectors of channels at a time: the per-channel float64
// accumulators live in registers for the whole row range (in-memory accumulators made every row a
// load-add-store chain through L1 and ran at a quarter of the bandwidth). The row block is about
// kStreamChunk elements, so the later column blocks and the second pass read it from L2. Every
// channel is still one chain in row order: the same bits as the scalar loop below.
constexpr int kColBlock = 4;
REGCORE_HD void acc_put(double* d, VF64 a0, VF64 a1, const float*) {
  vstore(d, a0);
  vstore(d + REGCORE_SIMD_W / 2, a1);
}
REGCORE_HD void acc_put(double* d, VF64 a0, VF64, const double*) { vstore(d, a0); }
REGCORE_HD void acc_sqdev2(VF64& a0, VF64& a1, VF32 v, const double* m) {
  const VF64 d0 = widen_lo(v) - vload(m), d1 = widen_hi(v) - vload(m + REGCORE_SIMD_W / 2);
  a0 = a0 + d0 * d0;
  a1 = a1 + d1 * d1;
}
REGCORE_HD void acc_sqdev2(VF64& a0, VF64&, VF64 v, const double* m) { const VF64 d = v - vload(m); a0 = a0 + d * d; }

template <class T>
void moments_col_block(const T* x, int64_t C, int64_t c, int64_t r0, int64_t r1, double* mean, double* m2) {
  constexpr int64_t L = lanes<T>::n;
  VF64 a[2 * kColBlock];
  for (auto& v : a) v = VF64(0.0);
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * C + c;
    for (int k = 0; k < kColBlock; ++k) acc_add(a[2 * k], a[2 * k + 1], vload(row + k * L));
  }
  const double inv_n = 1.0 / double(r1 - r0);
  for (int k = 0; k < kColBlock; ++k) acc_put(mean + c + k * L, a[2 * k], a[2 * k + 1], x);
  for (int64_t j = c; j < c + kColBlock * L; ++j) mean[j] = mean[j] * inv_n;
  for (auto& v : a) v = VF64(0.0);
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * C + c;
    for (int k = 0; k < kColBlock; ++k) acc_sqdev2(a[2 * k], a[2 * k + 1], vload(row + k * L), mean + c + k * L);
  }
  for (int k = 0; k < kColBlock; ++k) acc_put(m2 + c + k * L, a[2 * k], a[2 * k + 1], x);
}
#endif

template <class T>
void moments_cols(const T* x, int64_t C, int64_t r0, int64_t r1, double* mean, double* m2) {
  int64_t cb = 0;  // channels [0, cb) done in register blocks
#if REGCORE_SIMD_W > 1
  for (; cb + kColBlock * lanes<T>::n <= C; cb += kColBlock * lanes<T>::n)
    moments_col_block(x, C, cb, r0, r1, mean, m2);
#endif
  for (int64_t c = cb; c < C; ++c) mean[c] = m2[c] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * C;
    int64_t c = cb;
#if REGCORE_SIMD_W > 1
    constexpr int64_t L = lanes<T>::n;
    for (; c + L <= C; c += L) mem_add(mean + c, vload(row + c));
#endif
    for (; c < C; ++c) mean[c] += widen(row[c]);
  }
  const double inv_n = 1.0 / double(r1 - r0);
  for (int64_t c = cb; c < C; ++c) mean[c] = mean[c] * inv_n;
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * C;
    int64_t c = cb;
#if REGCORE_SIMD_W > 1
    constexpr int64_t L = lanes<T>::n;
    for (; c + L <= C; c += L) mem_sqdev(m2 + c, vload(row + c), mean + c);
#endif
    for (; c < C; ++c) {
      const double d = widen(row[c]) - mean[c];
      m2[c] += d * d;
    }
  }
}

// ---------------------------------------------------------------- normalize

template <class T, bool R>
void span_normalize(const T* x, T* y, int64_t len, T mhi, T mlo, T sc, T sh) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t L = lanes<T>::n;
  const V vmhi(mhi), vmlo(mlo), vsc(sc), vsh(sh);
  for (; k + L <= len; k += L) vstore(y + k, bn_normalize(vload(x + k), vmhi, vmlo, vsc, vsh, R));
#endif
  for (; k < len; ++k) y[k] = bn_normalize(x[k], mhi, mlo, sc, sh, R);
}

template <class T, bool R>
void normalize_rows_t(const T* x, T* y, int64_t C, int64_t S, int64_t j0, int64_t j1, BnCoef<T> k) {
  for_rows(C, S, j0, j1, [&](int64_t j, int64_t c, int64_t len) {
    span_normalize<T, R>(x + j, y + j, len, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c]);
  });
}
template <class T>
void normalize_rows(const T* x, T* y, int64_t C, int64_t S, int64_t j0, int64_t j1, BnCoef<T> k, int relu) {
  if (relu) normalize_rows_t<T, true>(x, y, C, S, j0, j1, k);
  else normalize_rows_t<T, false>(x, y, C, S, j0, j1, k);
}

template <class T, bool R>
void normalize_cols_t(const T* x, T* y, int64_t C, int64_t r0, int64_t r1, BnCoef<T> k) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    int64_t c = 0;
#if REGCORE_SIMD_W > 1
    constexpr int64_t L = lanes<T>::n;
    for (; c + L <= C; c += L)
      vstore(yr + c, bn_normalize(vload(xr + c), vload(k.mhi + c), vload(k.mlo + c),
                                  vload(k.scale + c), vload(k.shift + c), R));
#endif
    for (; c < C; ++c) yr[c] = bn_normalize(xr[c], k.mhi[c], k.mlo[c], k.scale[c], k.shift[c], R);
  }
}
template <class T>
void normalize_cols(const T* x, T* y, int64_t C, int64_t r0, int64_t r1, BnCoef<T> k, int relu) {
  if (relu) normalize_cols_t<T, true>(x, y, C, r0, r1, k);
  else normalize_cols_t<T, false>(x, y, C, r0, r1, k);
}

// ---------------------------------------------------------------- backward: reductions

template <class T, bool R>
void span_grad_reduce(Acc& A, Acc& B, const T* dy, const T* x, int64_t len, T mhi, T mlo, T sc, T sh) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t L = lanes<T>::n;
  const V vmhi(mhi), vmlo(mlo), vsc(sc), vsh(sh);
  for (; k + 2 * L <= len; k += 2 * L) {
    const V xc0 = bn_center(vload(x + k), vmhi, vmlo), xc1 = bn_center(vload(x + k + L), vmhi, vmlo);
    const V d0 = bn_masked_dy(vload(dy + k), xc0, vsc, vsh, R);
    const V d1 = bn_masked_dy(vload(dy + k + L), xc1, vsc, vsh, R);
    acc_add(A.a0, A.a1, d0);
    acc_add(A.a2, A.a3, d1);
    acc_mul(B.a0, B.a1, d0, xc0);
    acc_mul(B.a2, B.a3, d1, xc1);
  }
  for (; k + L <= len; k += L) {
    const V xc = bn_center(vload(x + k), vmhi, vmlo);
    const V d = bn_masked_dy(vload(dy + k), xc, vsc, vsh, R);
    acc_add(A.a0, A.a1, d);
    acc_mul(B.a0, B.a1, d, xc);
  }
#endif
  for (; k < len; ++k) {
    const T xc = bn_center(x[k], mhi, mlo);
    const T d = bn_masked_dy(dy[k], xc, sc, sh, R);
    A.s += widen(d);
    B.s += widen(d) * widen(xc);
  }
}

template <class T, bool R>
void grad_reduce_rows_t(const T* dy, const T* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                        BnCoef<T> k, double out[2]) {
  Acc A, B;
  for_runs(C, S, c, i0, i1, [&](int64_t off, int64_t len) {
    span_grad_reduce<T, R>(A, B, dy + off, x + off, len, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c]);
  });
  out[0] = A.total();
  out[1] = B.total();
}
template <class T>
void grad_reduce_rows(const T* dy, const T* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                      BnCoef<T> k, int relu, double out[2]) {
  if (relu) grad_reduce_rows_t<T, true>(dy, x, C, S, c, i0, i1, k, out);
  else grad_reduce_rows_t<T, false>(dy, x, C, S, c, i0, i1, k, out);
}

template <class T, bool R>
void grad_reduce_cols_t(const T* dy, const T* x, int64_t C, int64_t r0, int64_t r1, BnCoef<T> k,
                        double* sdy, double* sdyx) {
  for (int64_t c = 0; c < C; ++c) sdy[c] = sdyx[c] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * C;
    const T* dr = dy + r * C;
    int64_t c = 0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t L = lanes<T>::n;
    for (; c + L <= C; c += L) {
      const V xc = bn_center(vload(xr + c), vload(k.mhi + c), vload(k.mlo + c));
      const V d = bn_masked_dy(vload(dr + c), xc, vload(k.scale + c), vload(k.shift + c), R);
      mem_add(sdy + c, d);
      mem_mul(sdyx + c, d, xc);
    }
#endif
    for (; c < C; ++c) {
      const T xc = bn_center(xr[c], k.mhi[c], k.mlo[c]);
      const T d = bn_masked_dy(dr[c], xc, k.scale[c], k.shift[c], R);
      sdy[c] += widen(d);
      sdyx[c] += widen(d) * widen(xc);
    }
  }
}
template <class T>
void grad_reduce_cols(const T* dy, const T* x, int64_t C, int64_t r0, int64_t r1, BnCoef<T> k, int relu,
                      double* sdy, double* sdyx) {
  if (relu) grad_reduce_cols_t<T, true>(dy, x, C, r0, r1, k, sdy, sdyx);
  else grad_reduce_cols_t<T, false>(dy, x, C, r0, r1, k, sdy, sdyx);
}

// ---------------------------------------------------------------- backward: dx

template <class T, bool R>
void span_grad_apply(const T* dy, const T* x, T* dx, int64_t len, T mhi, T mlo, T sc, T sh, T ka, T kb, T kc) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t L = lanes<T>::n;
  const V vmhi(mhi), vmlo(mlo), vsc(sc), vsh(sh), vka(ka), vkb(kb), vkc(kc);
  for (; k + L <= len; k += L) {
    const V xc = bn_center(vload(x + k), vmhi, vmlo);
    const V d = bn_masked_dy(vload(dy + k), xc, vsc, vsh, R);
    vstore(dx + k, bn_backward_dx(d, xc, vka, vkb, vkc));
  }
#endif
  for (; k < len; ++k) {
    const T xc = bn_center(x[k], mhi, mlo);
    dx[k] = bn_backward_dx(bn_masked_dy(dy[k], xc, sc, sh, R), xc, ka, kb, kc);
  }
}

template <class T, bool R>
void grad_apply_rows_t(const T* dy, const T* x, T* dx, int64_t C, int64_t S, int64_t j0, int64_t j1,
                       BnCoef<T> k, BnGradCoef<T> g) {
  for_rows(C, S, j0, j1, [&](int64_t j, int64_t c, int64_t len) {
    span_grad_apply<T, R>(dy + j, x + j, dx + j, len, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c],
                          g.ka[c], g.kb[c], g.kc[c]);
  });
}
template <class T>
void grad_apply_rows(const T* dy, const T* x, T* dx, int64_t C, int64_t S, int64_t j0, int64_t j1,
                     BnCoef<T> k, BnGradCoef<T> g, int relu) {
  if (relu) grad_apply_rows_t<T, true>(dy, x, dx, C, S, j0, j1, k, g);
  else grad_apply_rows_t<T, false>(dy, x, dx, C, S, j0, j1, k, g);
}

template <class T, bool R>
void grad_apply_cols_t(const T* dy, const T* x, T* dx, int64_t C, int64_t r0, int64_t r1, BnCoef<T> k,
                       BnGradCoef<T> g) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * C;
    const T* dr = dy + r * C;
    T* or_ = dx + r * C;
    int64_t c = 0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t L = lanes<T>::n;
    for (; c + L <= C; c += L) {
      const V xc = bn_center(vload(xr + c), vload(k.mhi + c), vload(k.mlo + c));
      const V d = bn_masked_dy(vload(dr + c), xc, vload(k.scale + c), vload(k.shift + c), R);
      vstore(or_ + c, bn_backward_dx(d, xc, vload(g.ka + c), vload(g.kb + c), vload(g.kc + c)));
    }
#endif
    for (; c < C; ++c) {
      const T xc = bn_center(xr[c], k.mhi[c], k.mlo[c]);
      const T d = bn_masked_dy(dr[c], xc, k.scale[c], k.shift[c], R);
      or_[c] = bn_backward_dx(d, xc, g.ka[c], g.kb[c], g.kc[c]);
    }
  }
}
template <class T>
void grad_apply_cols(const T* dy, const T* x, T* dx, int64_t C, int64_t r0, int64_t r1, BnCoef<T> k,
                     BnGradCoef<T> g, int relu) {
  if (relu) grad_apply_cols_t<T, true>(dy, x, dx, C, r0, r1, k, g);
  else grad_apply_cols_t<T, false>(dy, x, dx, C, r0, r1, k, g);
}

template <class T> cpu::BatchNormKernels<T> kernels_for() {
  return {moments_rows<T>,     moments_cols<T>,     normalize_rows<T>,  normalize_cols<T>,
          grad_reduce_rows<T>, grad_reduce_cols<T>, grad_apply_rows<T>, grad_apply_cols<T>};
}

}  // namespace

const cpu::BatchNormTable& batchnorm_table() {
  static const cpu::BatchNormTable table = {kernels_for<float>(), kernels_for<double>()};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
