// Batch-normalization kernels, compiled once per ISA level. Element math comes from
// core/batchnorm.h; this file only walks the layouts and feeds SIMD lanes.
//
// Dtypes: T below is the storage type of x, y, dy, dx (float, double, bfloat16_t, float16_t);
// the element formulas run in F = compute_t<T> (float for the 16-bit formats: loaded through
// vload / elem_load, rounded once on the store), which is also the per-channel coefficients' type.
//
// Accumulation: float64 lanes for every dtype (float32 and 16-bit data are widened first). In the rows layout
// the lanes run along the contiguous spatial run and are summed once per piece; in the cols layout
// the lanes are separate channels and each channel is accumulated in row order, so the cols
// statistics are the same bits at every ISA level.
#include "../simd/vec.h"
#include "../../core/batchnorm.h"
#include "../../core/norm_coef.h"
#include "../batchnorm_table.h"
#include "../dispatch.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

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

// Where the reductions' prefetch (norm_accumulate.h) continues after a run of len values that
// ends at channel-flat index `end` of a piece ending at i1: the channel's next run, C*S values
// on; after the piece's last run, the values that follow it in memory (the next channel's run in
// the (1, N*C, S) views of group and instance norm, whose channels are one run each: the next
// piece the thread reads).
REGCORE_HD int64_t next_run(int64_t C, int64_t S, int64_t len, int64_t end, int64_t i1) {
  return end < i1 ? C * S : len;
}

// ---------------------------------------------------------------- statistics
//
// One pass, shifted data: with a shift K taken from the data (the piece's first value, or each
// channel's value in the array's first row), accumulate s = sum (x - K) and q = sum (x - K)^2 in
// float64, then mean = K + s/n and M2 = q - s * (s/n). K is a sample, so the deviations are of
// the order of the spread (never of the mean: no E[x^2] - E[x]^2 cancellation); for float32 data
// x - K is exact in float64 and so is its square. The two-pass form (mean, then squared
// deviations from cache) ran at half the copy bandwidth: its second pass is compute, not memory,
// and could not overlap the first pass's loads. span_shifted (kernels/norm_accumulate.h, shared
// with layer norm) accumulates one contiguous run.

template <class T>
void moments_rows(const T* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1, double out[2]) {
  const int64_t n0 = i0 / S;
  const double K = moment_shift(widen(elem_load(x + (n0 * C + c) * S + (i0 - n0 * S))));
  Acc s, q;
  int64_t done = i0;
  for_runs(C, S, c, i0, i1, [&](int64_t off, int64_t len) {
    span_shifted(s, q, x + off, len, K, next_run(C, S, len, done += len, i1));
  });
  shifted_moments(double(i1 - i0), K, s.total(), q.total(), &out[0], &out[1]);
}

// moments_rows of every channel of a (1, n, S) view, the channels' runs one after another (group
// and instance norm's sets, each one piece): out[2i], out[2i + 1] of run i, the same bits, with
// kAccBatch totals finished at once (acc_totals).
template <class T>
void moments_runs(const T* x, int64_t S, int64_t n, double* out) {
  Acc s[kAccBatch], q[kAccBatch];
  double st[kAccBatch], qt[kAccBatch], K[kAccBatch];
  for (int64_t r0 = 0; r0 < n; r0 += kAccBatch) {
    const int m = n - r0 < kAccBatch ? int(n - r0) : kAccBatch;
    for (int j = 0; j < m; ++j) {
      const T* p = x + (r0 + j) * S;
      Acc sj, qj;
      K[j] = moment_shift(widen(elem_load(p)));
      span_shifted(sj, qj, p, S, K[j], S);
      s[j] = sj;
      q[j] = qj;
    }
    if (m == kAccBatch) {
      acc_totals(s, st);
      acc_totals(q, qt);
    } else {
      for (int j = 0; j < m; ++j) st[j] = s[j].total(), qt[j] = q[j].total();
    }
    for (int j = 0; j < m; ++j)
      shifted_moments(double(S), K[j], st[j], qt[j], &out[2 * (r0 + j)], &out[2 * (r0 + j) + 1]);
  }
}

#if REGCORE_SIMD_W > 1
// Channels-last statistics, one block of kColBlock vectors of channels at a time: the per-channel
// float64 accumulators live in registers for the whole row range (in-memory accumulators made
// every row a load-add-store chain through L1 and ran at a quarter of the bandwidth). The row
// block is about kStreamChunk elements, so the later column blocks read it from L2. Every channel
// is still one chain in row order: the same bits as the scalar loop below.
constexpr int kColBlock = 4;
template <class T> REGCORE_HD void acc_put(double* d, VF64 a0, VF64 a1, const T*) {  // W lanes
  vstore(d, a0);
  vstore(d + REGCORE_SIMD_W / 2, a1);
}
REGCORE_HD void acc_put(double* d, VF64 a0, VF64, const double*) { vstore(d, a0); }
REGCORE_HD void widen2(VF64& k0, VF64& k1, VF32 v) { k0 = widen_lo(v); k1 = widen_hi(v); }
REGCORE_HD void widen2(VF64& k0, VF64&, VF64 v) { k0 = v; }
template <class T>
REGCORE_HD void acc_shift2(VF64& s0, VF64& s1, VF64& q0, VF64& q1, const T* p, VF64 k0, VF64 k1) {
  VF64 lo, hi;
  load_wide(p, lo, hi);
  // vsub_fma / vadd_fma: the same bits, on the multiply pipes (acc_shift in norm_accumulate.h).
  // Of a float32 vector's two subtractions one stays on the add pipes: with both on the multiply
  // pipes those had 6 operations per vector to the add pipes' 4 (two conversions, two adds);
  // 5 and 5 ran the (4096, 256) statistics 5% faster.
  const VF64 d0 = lanes<T>::n == REGCORE_SIMD_W ? lo - k0 : vsub_fma(lo, k0);
  s0 = vadd_fma(s0, d0);
  q0 = q0 + d0 * d0;
  if (lanes<T>::n == REGCORE_SIMD_W) {  // float32 lanes: the upper half of the vector
    const VF64 d1 = vsub_fma(hi, k1);
    s1 = vadd_fma(s1, d1);
    q1 = q1 + d1 * d1;
  }
}

template <int kColBlock, class T>
void moments_col_block(const T* x, int64_t C, int64_t c, int64_t r0, int64_t r1, double* s_out, double* q_out) {
  constexpr int64_t L = lanes<T>::n;
  VF64 k[2 * kColBlock], s[2 * kColBlock], q[2 * kColBlock];
  for (int b = 0; b < kColBlock; ++b) widen2(k[2 * b], k[2 * b + 1], vload_arith(x + c + b * L));  // row 0
  // moment_shift lane by lane (v - v <= 0 fails for an inf or NaN); k[odd] holds float32's upper half
  const auto finite_or_zero = [](VF64 v) { return vselect(vle(v - v, VF64(0.0)), v, VF64(0.0)); };
  for (int b = 0; b < kColBlock; ++b) {
    k[2 * b] = finite_or_zero(k[2 * b]);
    if (L == REGCORE_SIMD_W) k[2 * b + 1] = finite_or_zero(k[2 * b + 1]);
  }
  for (auto& v : s) v = VF64(0.0);
  for (auto& v : q) v = VF64(0.0);
  // Each row also asks for the lines the next block will read: the block walks the rows with their
  // stride (a new page per row for 1024 float32 channels), where the hardware prefetchers did not
  // follow: the statistics of a 16 MB (4096, 1024) float32 array read from memory took 1.2x to 2.5x
  // as long without the prefetch (into L1; into L2 only gained less).
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * C + c;
    for (int64_t e = 0; e < kColBlock * L; e += kLine) __builtin_prefetch(row + kColBlock * L + e);
    for (int b = 0; b < kColBlock; ++b)
      acc_shift2(s[2 * b], s[2 * b + 1], q[2 * b], q[2 * b + 1], row + b * L, k[2 * b], k[2 * b + 1]);
  }
  for (int b = 0; b < kColBlock; ++b) {
    acc_put(s_out + c + b * L, s[2 * b], s[2 * b + 1], x);
    acc_put(q_out + c + b * L, q[2 * b], q[2 * b + 1], x);
  }
}
#endif

// Channels-last shifted sums over rows [r0, r1): s[c] = sum (x - K[c]), q[c] = sum (x - K[c])^2
// with K[c] = x[0, c], the channel's value in the array's FIRST row. Every chunk of rows uses the
// same shift, so the caller just adds the chunks' sums (in chunk order) and turns them into
// moments once per channel: no per-chunk moments and no Chan merges, whose divisions cost as
// much as the accumulation itself for a few rows of many channels.
template <class T>
void moments_cols(const T* x, int64_t C, int64_t r0, int64_t r1, double* s, double* q) {
  int64_t cb = 0;  // channels [0, cb) done in register blocks
#if REGCORE_SIMD_W > 1
  for (; cb + kColBlock * lanes<T>::n <= C; cb += kColBlock * lanes<T>::n)
    moments_col_block<kColBlock>(x, C, cb, r0, r1, s, q);
  for (; cb + lanes<T>::n <= C; cb += lanes<T>::n) moments_col_block<1>(x, C, cb, r0, r1, s, q);
#endif
  for (int64_t c = cb; c < C; ++c) s[c] = q[c] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * C;
    for (int64_t c = cb; c < C; ++c) {
      const double d = widen(elem_load(row + c)) - moment_shift(widen(elem_load(x + c)));
      s[c] += d;
      q[c] += d * d;
    }
  }
}

// ---------------------------------------------------------------- normalize
//
// Outputs of large passes (batchnorm_api.cpp decides) are written with non-temporal stores: the
// line goes to memory without being read first, so a pass moves its minimum bytes instead of
// 1.5x them for the write (measured +25% on a 25 MB normalize). They need vector-aligned
// addresses, so each run starts with scalar elements up to the first aligned one (the same
// formula in scalar and lanes: the bits do not depend on where the vector loop starts).

#if REGCORE_SIMD_W > 1
// Elements of p[0, len) before the first address aligned to one vector (REGCORE_SIMD_W * 4 bytes
// for both dtypes).
template <class T> int64_t head_to_align(const T* p, int64_t len) {
  constexpr uintptr_t A = uintptr_t(REGCORE_SIMD_W) * 4;
  const int64_t h = int64_t(((A - (reinterpret_cast<uintptr_t>(p) & (A - 1))) & (A - 1)) / sizeof(T));
  return h < len ? h : len;
}
// One vector of a 16-bit output is half a line: always an ordinary store (the streaming 16-bit
// stores are the AVX512_BF16 pairs, PairStore::put<true>).
template <bool NT, class T, class V> REGCORE_HD void vput(T* p, V v) {
  if constexpr (NT && (std::is_same<T, float>::value || std::is_same<T, double>::value)) vstream(p, v);
  else vstore(p, v);
}
#endif


// The elementwise kernels (batchnorm_elementwise.h), compiled with the plain pair store and, at
// the AVX-512 level, once more in a GCC target region that enables AVX512_BF16 for vstore2_ne
// (simd/vec_avx512.h): a bfloat16 pair rounded by one instruction instead of eleven, the same
// bits. Only the bf16ne copies may contain AVX512_BF16 instructions, and they run only on a
// processor that has them (with_flags below); the other levels alias bf16ne to plain.
namespace plain {
struct PairStore {
  template <bool NT, class T, class V> static REGCORE_HD void put(T* p, V a, V b) { vstore2(p, a, b); }
};
#include "batchnorm_elementwise.h"
}  // namespace plain
#if defined(REGCORE_HAVE_BF16_NE)
#pragma GCC push_options
#pragma GCC target("avx512bf16")
namespace bf16ne {
struct PairStore {
  template <bool NT> static REGCORE_HD void put(bfloat16_t* p, VF32 a, VF32 b) { vstore2_ne<NT>(p, a, b); }
};
#include "batchnorm_elementwise.h"
}  // namespace bf16ne
#pragma GCC pop_options
#else
namespace bf16ne = plain;
#endif

// Calls f(Flag<R>, Flag<NT>, Flag<NE>) for the runtime flags: one instantiation per combination.
// NE: take the bf16ne kernels (bfloat16 outputs on an AVX512_BF16 processor). 16-bit outputs
// stream only there: the integer rounding store writes half a line per vector.
template <bool B> struct Flag { static constexpr bool value = B; };
template <class T, class F> void with_flags(int relu, int stream, F&& f) {
#if defined(REGCORE_HAVE_BF16_NE)
  if constexpr (std::is_same<T, bfloat16_t>::value) {
    if (cpu::avx512_bf16_active()) {
      if (stream) {
        if (relu) f(Flag<true>(), Flag<true>(), Flag<true>());
        else f(Flag<false>(), Flag<true>(), Flag<true>());
        vstream_fence();
      } else {
        if (relu) f(Flag<true>(), Flag<false>(), Flag<true>());
        else f(Flag<false>(), Flag<false>(), Flag<true>());
      }
      return;
    }
  }
#endif
#if REGCORE_SIMD_W > 1
  if (stream && sizeof(T) >= 4) {
    if (relu) f(Flag<true>(), Flag<true>(), Flag<false>());
    else f(Flag<false>(), Flag<true>(), Flag<false>());
    vstream_fence();  // the non-temporal stores are ordered before whatever reads the output next
    return;
  }
#else
  (void)stream;
#endif
  if (relu) f(Flag<true>(), Flag<false>(), Flag<false>());
  else f(Flag<false>(), Flag<false>(), Flag<false>());
}
// Whether the elementwise kernels write dt's output with streaming stores when asked (with_flags'
// choice): float32 / float64 at every vector level, bfloat16 only through the AVX512_BF16 pair.
int streams_entry(DType dt) {
#if defined(REGCORE_HAVE_BF16_NE)
  if (dt == DType::bf16) return cpu::avx512_bf16_active() ? 1 : 0;
#endif
  return REGCORE_SIMD_W > 1 && dtype_size(dt) >= 4;
}
// kernel<T, R, NT>(args...) from the copy NE names.
#define REGCORE_BN_ELEMENTWISE(kernel, ...)                                                      \
  with_flags<T>(relu, stream, [&](auto R, auto NT, auto NE) {                                  \
    constexpr bool r = decltype(R)::value, nt = decltype(NT)::value;                            \
    if constexpr (decltype(NE)::value) bf16ne::kernel<T, r, nt>(__VA_ARGS__);                   \
    else plain::kernel<T, r, nt>(__VA_ARGS__);                                                  \
  })

template <class T>
void normalize_rows(const T* x, T* y, int64_t C, int64_t S, int64_t j0, int64_t j1, BnCoefOf<compute_t<T>> k, int relu,
                    int stream) {
  REGCORE_BN_ELEMENTWISE(normalize_rows_t, x, y, C, S, j0, j1, k);
}
// The cols kernels stream only when every row starts on a vector boundary (aligned output, a row a
// multiple of one float32 vector's bytes: the 16-bit pair store writes that much): a scalar head in every row cost more than the streaming saved (C = 64
// float32 rows at a 16-byte offset ran at half the speed of ordinary stores).
template <class T> int cols_stream(const T* y, int64_t C, int64_t r0, int stream) {
#if REGCORE_SIMD_W > 1
  return stream && (C * int64_t(sizeof(T))) % (REGCORE_SIMD_W * 4) == 0 && head_to_align(y + r0 * C, C) == 0;
#else
  (void)y, (void)C, (void)r0;
  return stream;
#endif
}

// The cols kernels' `stream` argument holds two flags (batchnorm_api.cpp sets them): bit 0 asks for
// streaming stores, bit 1 (kColsGrouped) says the array is small enough to stay in the caches (or
// its rows are short: cols_mode), where the vector part runs a group of rows per coefficient load
// (batchnorm_elementwise.h). From memory the group's interleaved rows ran up to 3x slower than
// the row loop (8 MB float32, 256 channels), in cache 1.5x faster.
constexpr int kColsGrouped = 2;

template <class T>
void normalize_cols(const T* x, T* y, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k, int relu, int stream) {
  const bool grouped = (stream & kColsGrouped) != 0;
  stream = cols_stream(y, C, r0, stream & 1);
  REGCORE_BN_ELEMENTWISE(normalize_cols_t, x, y, C, r0, r1, k, grouped);
}

// ---------------------------------------------------------------- backward: reductions

#if REGCORE_SIMD_W > 1
// W/2 values of dy as float64 lanes, exactly: float32 widened straight from memory, 16-bit
// values through a half vector (vload_h).
REGCORE_HD VF64 load_f64_h(const float* p) { return vload_f64(p); }
template <class T> REGCORE_HD VF64 load_f64_h(const T* p) { return widen(vload_h(p)); }

// The backward sums without the fused ReLU (dy' = dy) of float32 and 16-bit data, W/2 lanes at a
// time (VF32H, as wide as VF64): lane for lane the generic loop's values, products and chains
// (a0 / a1 take the lower / upper half of a vector, a2 / a3 those of the second vector of a
// pair), without the extract that widening an upper half costs; dy is widened straight from
// memory. The product of two widened float32 values is exact, so vmuladd_exact adds it with the
// bits of a separate multiply and add. The first subtraction of xc runs as vsub_fma (the same
// bits): the add pipes also hold the four conversions per vector, and moving it over balanced
// the two kinds of pipe (about 4% on cached data).
template <int kQuarters, class T>
REGCORE_HD void grad_reduce_h_step(VF64* a, VF64* b, const T* dy, const T* x, VF32H mhi, VF32H mlo) {
  constexpr int64_t H = REGCORE_SIMD_W / 2;
  for (int q = 0; q < kQuarters; ++q) {
    const VF64 d = load_f64_h(dy + q * H);
    a[q] = vadd_fma(a[q], d);
    b[q] = vmuladd_exact(d, widen(vsub_fma(vload_h(x + q * H), mhi) - mlo), b[q]);
  }
}
#endif

// next: the channel's next run starts next elements after dy and x (prefetch_ahead).
template <class T, bool R>
void span_grad_reduce(Acc& A, Acc& B, const T* dy, const T* x, int64_t len, int64_t next, compute_t<T> mhi,
                      compute_t<T> mlo, compute_t<T> sc, compute_t<T> sh) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  const bool pf = short_run<T>(len);   // prefetch_ahead (norm_accumulate.h)
  if constexpr (!R && !std::is_same<T, double>::value) {
    constexpr int64_t L = REGCORE_SIMD_W;
    const VF32H hmhi(mhi), hmlo(mlo);
    VF64 a[4] = {A.a0, A.a1, A.a2, A.a3}, b[4] = {B.a0, B.a1, B.a2, B.a3};
    for (; k + 2 * L <= len; k += 2 * L) {
      if (pf) {
        prefetch_ahead(dy, k, 2 * L, len, next);
        prefetch_ahead(x, k, 2 * L, len, next);
      }
      grad_reduce_h_step<4>(a, b, dy + k, x + k, hmhi, hmlo);
    }
    for (; k + L <= len; k += L) grad_reduce_h_step<2>(a, b, dy + k, x + k, hmhi, hmlo);
    A.a0 = a[0], A.a1 = a[1], A.a2 = a[2], A.a3 = a[3];
    B.a0 = b[0], B.a1 = b[1], B.a2 = b[2], B.a3 = b[3];
    (void)sc, (void)sh;
  } else {
    using V = typename lanes<T>::V;
    constexpr int64_t L = lanes<T>::n;
    const V vmhi(mhi), vmlo(mlo), vsc(sc), vsh(sh);
    for (; k + 2 * L <= len; k += 2 * L) {
      if (pf) {
        prefetch_ahead(dy, k, 2 * L, len, next);
        prefetch_ahead(x, k, 2 * L, len, next);
      }
      const V xc0 = bn_center(vload_arith(x + k), vmhi, vmlo), xc1 = bn_center(vload_arith(x + k + L), vmhi, vmlo);
      const V d0 = bn_masked_dy(vload_arith(dy + k), xc0, vsc, vsh, R);
      const V d1 = bn_masked_dy(vload_arith(dy + k + L), xc1, vsc, vsh, R);
      acc_add(A.a0, A.a1, d0);
      acc_add(A.a2, A.a3, d1);
      acc_mul(B.a0, B.a1, d0, xc0);
      acc_mul(B.a2, B.a3, d1, xc1);
    }
    for (; k + L <= len; k += L) {
      const V xc = bn_center(vload_arith(x + k), vmhi, vmlo);
      const V d = bn_masked_dy(vload_arith(dy + k), xc, vsc, vsh, R);
      acc_add(A.a0, A.a1, d);
      acc_mul(B.a0, B.a1, d, xc);
    }
  }
#endif
  for (; k < len; ++k) {
    const compute_t<T> xc = bn_center(elem_load(x + k), mhi, mlo);
    const compute_t<T> d = bn_masked_dy(elem_load(dy + k), xc, sc, sh, R);
    A.s += widen(d);
    B.s += widen(d) * widen(xc);
  }
}

template <class T, bool R>
void grad_reduce_rows_t(const T* dy, const T* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                        BnCoefOf<compute_t<T>> k, double out[2]) {
  Acc A, B;
  int64_t done = i0;
  for_runs(C, S, c, i0, i1, [&](int64_t off, int64_t len) {
    span_grad_reduce<T, R>(A, B, dy + off, x + off, len, next_run(C, S, len, done += len, i1), k.mhi[c], k.mlo[c],
                           k.scale[c], k.shift[c]);
  });
  out[0] = A.total();
  out[1] = B.total();
}
template <class T>
void grad_reduce_rows(const T* dy, const T* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                      BnCoefOf<compute_t<T>> k, int relu, double out[2]) {
  if (relu) grad_reduce_rows_t<T, true>(dy, x, C, S, c, i0, i1, k, out);
  else grad_reduce_rows_t<T, false>(dy, x, C, S, c, i0, i1, k, out);
}

// grad_reduce_rows of every channel of a (1, n, S) view (moments_runs' layout): sdy[i], sdyx[i] of
// run i, the same bits, kAccBatch totals at a time.
template <class T, bool R>
void grad_reduce_runs_t(const T* dy, const T* x, int64_t S, int64_t n, BnCoefOf<compute_t<T>> k, double* sdy,
                        double* sdyx) {
  Acc A[kAccBatch], B[kAccBatch];
  for (int64_t r0 = 0; r0 < n; r0 += kAccBatch) {
    const int m = n - r0 < kAccBatch ? int(n - r0) : kAccBatch;
    for (int j = 0; j < m; ++j) {
      const int64_t c = r0 + j;
      Acc a, b;
      span_grad_reduce<T, R>(a, b, dy + c * S, x + c * S, S, S, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c]);
      A[j] = a;
      B[j] = b;
    }
    if (m == kAccBatch) {
      acc_totals(A, sdy + r0);
      acc_totals(B, sdyx + r0);
    } else {
      for (int j = 0; j < m; ++j) sdy[r0 + j] = A[j].total(), sdyx[r0 + j] = B[j].total();
    }
  }
}
template <class T>
void grad_reduce_runs(const T* dy, const T* x, int64_t S, int64_t n, BnCoefOf<compute_t<T>> k, int relu, double* sdy,
                      double* sdyx) {
  if (relu) grad_reduce_runs_t<T, true>(dy, x, S, n, k, sdy, sdyx);
  else grad_reduce_runs_t<T, false>(dy, x, S, n, k, sdy, sdyx);
}

#if REGCORE_SIMD_W > 1
// Channels-last backward sums, one block of B vectors of channels at a time with the per-channel
// float64 sums in registers for the whole row range (as moments_col_block; the in-memory sums were
// a load-add-store chain per row). Each channel is one chain in row order: the same bits as the
// scalar loop of grad_reduce_cols_t.
template <int B, class T, bool R>
void grad_reduce_col_block(const T* dy, const T* x, int64_t C, int64_t c, int64_t r0, int64_t r1,
                           const BnCoefOf<compute_t<T>>& k, double* sdy, double* sdyx) {
  using V = typename lanes<T>::V;
  constexpr int64_t L = lanes<T>::n;
  VF64 a[2 * B], m[2 * B];
  for (auto& v : a) v = VF64(0.0);
  for (auto& v : m) v = VF64(0.0);
  if constexpr (!R && !std::is_same<T, double>::value) {   // halves, as span_grad_reduce's loop
    constexpr int64_t H = L / 2;
    for (int64_t r = r0; r < r1; ++r)
      for (int h = 0; h < 2 * B; ++h) {
        const int64_t j = c + h * H;
        const VF64 d = load_f64_h(dy + r * C + j);
        a[h] = vadd_fma(a[h], d);
        m[h] = vmuladd_exact(d, widen(vsub_fma(vload_h(x + r * C + j), vload_h(k.mhi + j)) - vload_h(k.mlo + j)), m[h]);
      }
  } else
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * C + c;
    const T* dr = dy + r * C + c;
    for (int b = 0; b < B; ++b) {
      const int64_t j = c + b * L;
      const V xc = bn_center(vload_arith(xr + b * L), vload(k.mhi + j), vload(k.mlo + j));
      const V d = bn_masked_dy(vload_arith(dr + b * L), xc, vload(k.scale + j), vload(k.shift + j), R);
      acc_add(a[2 * b], a[2 * b + 1], d);
      acc_mul(m[2 * b], m[2 * b + 1], d, xc);
    }
  }
  for (int b = 0; b < B; ++b) {
    acc_put(sdy + c + b * L, a[2 * b], a[2 * b + 1], x);
    acc_put(sdyx + c + b * L, m[2 * b], m[2 * b + 1], x);
  }
}
#endif

template <class T, bool R>
void grad_reduce_cols_t(const T* dy, const T* x, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k,
                        double* sdy, double* sdyx) {
  int64_t cb = 0;  // channels [0, cb) done in register blocks
#if REGCORE_SIMD_W > 1
  constexpr int64_t L = lanes<T>::n;
  for (; cb + kColBlock * L <= C; cb += kColBlock * L)
    grad_reduce_col_block<kColBlock, T, R>(dy, x, C, cb, r0, r1, k, sdy, sdyx);
  for (; cb + L <= C; cb += L) grad_reduce_col_block<1, T, R>(dy, x, C, cb, r0, r1, k, sdy, sdyx);
#endif
  for (int64_t c = cb; c < C; ++c) sdy[c] = sdyx[c] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * C;
    const T* dr = dy + r * C;
    for (int64_t c = cb; c < C; ++c) {
      const compute_t<T> xc = bn_center(elem_load(xr + c), k.mhi[c], k.mlo[c]);
      const compute_t<T> d = bn_masked_dy(elem_load(dr + c), xc, k.scale[c], k.shift[c], R);
      sdy[c] += widen(d);
      sdyx[c] += widen(d) * widen(xc);
    }
  }
}
template <class T>
void grad_reduce_cols(const T* dy, const T* x, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k, int relu,
                      double* sdy, double* sdyx) {
  if (relu) grad_reduce_cols_t<T, true>(dy, x, C, r0, r1, k, sdy, sdyx);
  else grad_reduce_cols_t<T, false>(dy, x, C, r0, r1, k, sdy, sdyx);
}

// ---------------------------------------------------------------- backward: dx

template <class T>
void grad_apply_rows(const T* dy, const T* x, T* dx, int64_t C, int64_t S, int64_t j0, int64_t j1,
                     BnCoefOf<compute_t<T>> k, BnGradCoefOf<compute_t<T>> g, int relu, int stream) {
  REGCORE_BN_ELEMENTWISE(grad_apply_rows_t, dy, x, dx, C, S, j0, j1, k, g);
}

template <class T>
void grad_apply_chan(const T* dy, const T* x, T* dx, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                     BnCoefOf<compute_t<T>> k, BnGradCoefOf<compute_t<T>> g, int relu, int stream) {
  REGCORE_BN_ELEMENTWISE(grad_apply_chan_t, dy, x, dx, C, S, c, i0, i1, k, g);
}

template <class T>
void grad_apply_cols(const T* dy, const T* x, T* dx, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k,
                     BnGradCoefOf<compute_t<T>> g, int relu, int stream) {
  const bool grouped = (stream & kColsGrouped) != 0;   // as normalize_cols
  stream = cols_stream(dx, C, r0, stream & 1);
  REGCORE_BN_ELEMENTWISE(grad_apply_cols_t, dy, x, dx, C, r0, r1, k, g, grouped);
}

// ---------------------------------------------------------------- table entries: the dtype
// becomes the storage type S here, once per op.

void moments_rows_entry(DType dt, const void* x, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                        double out[2]) {
  visit_dtype(dt, [&](auto t) {
    moments_rows(static_cast<const REGCORE_TAG_TYPE(t)*>(x), C, S, c, i0, i1, out);
  });
}
void moments_runs_entry(DType dt, const void* x, int64_t S, int64_t n, double* out) {
  visit_dtype(dt, [&](auto t) { moments_runs(static_cast<const REGCORE_TAG_TYPE(t)*>(x), S, n, out); });
}
void moments_cols_entry(DType dt, const void* x, int64_t C, int64_t r0, int64_t r1, double* s, double* q) {
  visit_dtype(dt, [&](auto t) { moments_cols(static_cast<const REGCORE_TAG_TYPE(t)*>(x), C, r0, r1, s, q); });
}
void normalize_rows_entry(DType dt, const void* x, void* y, int64_t C, int64_t S, int64_t j0, int64_t j1,
                          const BnCoef& k, int relu, int stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    normalize_rows(static_cast<const T*>(x), static_cast<T*>(y), C, S, j0, j1, coef_of<compute_t<T>>(k), relu, stream);
  });
}
void normalize_cols_entry(DType dt, const void* x, void* y, int64_t C, int64_t r0, int64_t r1,
                          const BnCoef& k, int relu, int stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    normalize_cols(static_cast<const T*>(x), static_cast<T*>(y), C, r0, r1, coef_of<compute_t<T>>(k), relu, stream);
  });
}
void grad_reduce_rows_entry(DType dt, const void* dy, const void* x, int64_t C, int64_t S, int64_t c, int64_t i0,
                            int64_t i1, const BnCoef& k, int relu, double out[2]) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_reduce_rows(static_cast<const T*>(dy), static_cast<const T*>(x), C, S, c, i0, i1, coef_of<compute_t<T>>(k), relu, out);
  });
}
void grad_reduce_runs_entry(DType dt, const void* dy, const void* x, int64_t S, int64_t n, const BnCoef& k, int relu,
                            double* sdy, double* sdyx) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_reduce_runs(static_cast<const T*>(dy), static_cast<const T*>(x), S, n, coef_of<compute_t<T>>(k), relu, sdy,
                     sdyx);
  });
}
void grad_reduce_cols_entry(DType dt, const void* dy, const void* x, int64_t C, int64_t r0, int64_t r1,
                            const BnCoef& k, int relu, double* sdy, double* sdyx) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_reduce_cols(static_cast<const T*>(dy), static_cast<const T*>(x), C, r0, r1, coef_of<compute_t<T>>(k), relu, sdy, sdyx);
  });
}
void grad_apply_rows_entry(DType dt, const void* dy, const void* x, void* dx, int64_t C, int64_t S, int64_t j0,
                           int64_t j1, const BnCoef& k, const BnGradCoef& g, int relu, int stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_apply_rows(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), C, S, j0, j1,
                    coef_of<compute_t<T>>(k), coef_of<compute_t<T>>(g), relu, stream);
  });
}
void grad_apply_chan_entry(DType dt, const void* dy, const void* x, void* dx, int64_t C, int64_t S, int64_t c,
                           int64_t i0, int64_t i1, const BnCoef& k, const BnGradCoef& g, int relu, int stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_apply_chan(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), C, S, c, i0, i1,
                    coef_of<compute_t<T>>(k), coef_of<compute_t<T>>(g), relu, stream);
  });
}
void grad_apply_cols_entry(DType dt, const void* dy, const void* x, void* dx, int64_t C, int64_t r0, int64_t r1,
                           const BnCoef& k, const BnGradCoef& g, int relu, int stream) {
  visit_dtype(dt, [&](auto t) {
    using T = REGCORE_TAG_TYPE(t);
    grad_apply_cols(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), C, r0, r1,
                    coef_of<compute_t<T>>(k), coef_of<compute_t<T>>(g), relu, stream);
  });
}

}  // namespace

const cpu::BatchNormTable& batchnorm_table() {
  static const cpu::BatchNormTable table = {
      moments_rows_entry,     moments_cols_entry,     normalize_rows_entry,  normalize_cols_entry,
      grad_reduce_rows_entry, grad_reduce_cols_entry, grad_apply_rows_entry, grad_apply_cols_entry,
      grad_apply_chan_entry,  streams_entry,          moments_runs_entry,    grad_reduce_runs_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
