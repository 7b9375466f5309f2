// Float64 accumulation helpers shared by the normalization kernels (batchnorm.cpp, layernorm.cpp):
// SIMD lanes of the data type, widening adds into float64 lanes, per-channel in-memory
// accumulators, and the two-chain Acc. Included INSIDE a per-ISA anonymous namespace (after
// simd/vec.h), so every ISA level gets its own copy (see the ODR note in csrc/cpu/isa_tables.h).
#pragma once

#if REGCORE_SIMD_W > 1
template <class T> struct lanes;
template <> struct lanes<float> { using V = VF32; static constexpr int64_t n = REGCORE_SIMD_W; };
template <> struct lanes<double> { using V = VF64; static constexpr int64_t n = REGCORE_SIMD_W / 2; };
// 16-bit storage: W elements load into one float32 vector (vload widens, vstore rounds).
template <> struct lanes<bfloat16_t> { using V = VF32; static constexpr int64_t n = REGCORE_SIMD_W; };
template <> struct lanes<float16_t> { using V = VF32; static constexpr int64_t n = REGCORE_SIMD_W; };
// Elementwise passes write 16-bit outputs two vectors at a time (vstore2 narrows both with one
// shuffle); kPair<T> is the length such a step needs: 2W for the 16-bit formats, never reached
// for float32 / float64, which keep their one-vector loop (unrolled by two, the float32
// normalize ran 1.6x slower). Loads in these kernels are vload_arith: every loaded value goes
// through float arithmetic (or the float64 widening) before anything is stored.
template <class T> constexpr int64_t kPair = sizeof(T) == 2 ? 2 * lanes<T>::n : int64_t(1) << 62;

double hsum(VF64 a) {
  double t[REGCORE_SIMD_W / 2];
  vstore(t, a);
  double s = 0.0;
  for (int l = 0; l < REGCORE_SIMD_W / 2; ++l) s += t[l];
  return s;
}
// a += v (widened); a1 takes the upper half of a float32 vector. The adds of acc_add / acc_mul
// are vadd_fma (the same bits as +) on the multiply pipes: these reductions convert two or four
// vectors per data vector, and the conversions share the add pipes on Zen 4.
REGCORE_HD void acc_add(VF64& a0, VF64& a1, VF32 v) { a0 = vadd_fma(a0, widen_lo(v)); a1 = vadd_fma(a1, widen_hi(v)); }
REGCORE_HD void acc_add(VF64& a0, VF64&, VF64 v) { a0 = vadd_fma(a0, v); }
REGCORE_HD void acc_sqdev(VF64& a0, VF64& a1, VF32 v, VF64 m) {
  const VF64 d0 = widen_lo(v) - m, d1 = widen_hi(v) - m;
  a0 = a0 + d0 * d0;
  a1 = a1 + d1 * d1;
}
REGCORE_HD void acc_sqdev(VF64& a0, VF64&, VF64 v, VF64 m) { const VF64 d = v - m; a0 = a0 + d * d; }
// Products of widened float32 lanes are exact in float64: vmuladd_exact, the same bits as
// a0 + u*v, one instruction.
REGCORE_HD void acc_mul(VF64& a0, VF64& a1, VF32 u, VF32 v) {
  a0 = vmuladd_exact(widen_lo(u), widen_lo(v), a0);
  a1 = vmuladd_exact(widen_hi(u), widen_hi(v), a1);
}
REGCORE_HD void acc_mul(VF64& a0, VF64&, VF64 u, VF64 v) { a0 = vadd_fma(a0, u * v); }
// In-memory per-channel accumulators (cols layout): acc[0 .. lanes) += v.
REGCORE_HD void mem_add(double* acc, VF32 v) {
  vstore(acc, vload(acc) + widen_lo(v));
  vstore(acc + REGCORE_SIMD_W / 2, vload(acc + REGCORE_SIMD_W / 2) + widen_hi(v));
}
REGCORE_HD void mem_add(double* acc, VF64 v) { vstore(acc, vload(acc) + v); }
REGCORE_HD void mem_sqdev(double* acc, VF32 v, const double* m) {
  const VF64 d0 = widen_lo(v) - vload(m), d1 = widen_hi(v) - vload(m + REGCORE_SIMD_W / 2);
  vstore(acc, vload(acc) + d0 * d0);
  vstore(acc + REGCORE_SIMD_W / 2, vload(acc + REGCORE_SIMD_W / 2) + d1 * d1);
}
REGCORE_HD void mem_sqdev(double* acc, VF64 v, const double* m) {
  const VF64 d = v - vload(m);
  vstore(acc, vload(acc) + d * d);
}
REGCORE_HD void mem_mul(double* acc, VF32 u, VF32 v) {
  vstore(acc, vload(acc) + widen_lo(u) * widen_lo(v));
  vstore(acc + REGCORE_SIMD_W / 2, vload(acc + REGCORE_SIMD_W / 2) + widen_hi(u) * widen_hi(v));
}
REGCORE_HD void mem_mul(double* acc, VF64 u, VF64 v) { vstore(acc, vload(acc) + u * v); }
#endif

// A float64 sum held in SIMD lanes plus a scalar tail; total() combines them in a fixed order.
// Two independent pairs of lanes (a0, a1) and (a2, a3) hide the latency of the float64 adds:
// with one chain the statistics pass ran at half the memory bandwidth.
struct Acc {
#if REGCORE_SIMD_W > 1
  VF64 a0 = VF64(0.0), a1 = VF64(0.0), a2 = VF64(0.0), a3 = VF64(0.0);
#endif
  double s = 0.0;
  double total() const {
#if REGCORE_SIMD_W > 1
    return ((hsum(a0) + hsum(a1)) + (hsum(a2) + hsum(a3))) + s;
#else
    return s;
#endif
  }
};

// out[i] = acc[i].total() for kAccBatch accumulators at once. The short runs of group and
// instance norm (a few hundred values a set) finished one total at a time spent a third of their
// time in hsum's eight dependent adds of shuffled lanes; transposed, lane i of one vector
// carries acc[i]'s sum, so a vector add takes the same step of every total: the same additions
// in the same order (0.0, then lanes 0, 1, ...; then the four sums and the scalar tail).
#if REGCORE_SIMD_W > 1
constexpr int kAccBatch = REGCORE_SIMD_W / 2;
inline void acc_totals(const Acc* acc, double* out) {
  auto hsums = [&](VF64 Acc::*part) {   // lane i: hsum(acc[i].*part)
    VF64 r[kAccBatch];
    for (int i = 0; i < kAccBatch; ++i) r[i] = acc[i].*part;
    transpose_f64(r);
    VF64 h(0.0);
    for (int l = 0; l < kAccBatch; ++l) h = h + r[l];
    return h;
  };
  const VF64 h0 = hsums(&Acc::a0), h1 = hsums(&Acc::a1), h2 = hsums(&Acc::a2), h3 = hsums(&Acc::a3);
  double tail[kAccBatch];
  for (int i = 0; i < kAccBatch; ++i) tail[i] = acc[i].s;
  vstore(out, ((h0 + h1) + (h2 + h3)) + vload(tail));
}
#else
constexpr int kAccBatch = 1;
inline void acc_totals(const Acc* acc, double* out) { out[0] = acc[0].total(); }
#endif


// ---------------------------------------------------------------- software prefetch
//
// The rows-layout reductions (statistics, backward sums) walk one channel's runs: S contiguous
// values, then a jump of C*S to the channel's next run. Runs of a few KiB (a 56x56 bfloat16 plane
// is 6 KiB) are too short for the hardware prefetchers to get ahead: from memory, the backward
// sums of a (32, 64, 56, 56) bfloat16 batch ran at 12 GB/s against 37 for the flat normalize.
// So these loops ask for the line kPrefetchBytes ahead of the one they read, as if the channel's
// runs were one array: past the end of a run, in the channel's next run (`next` elements after
// this run's start). One line per line read, spread over the loop (asking for a whole run at
// its start ran slower: a burst of misses stalls the loads). Only runs shorter than
// kPrefetchRunBytes: the hardware follows longer ones, and the hints slowed the float32 sums of
// 12 KiB runs by 15%. Hints only: the values and the order of every operation are unchanged.
constexpr int64_t kPrefetchBytes = 2048;
constexpr int64_t kPrefetchRunBytes = 8192;
template <class T> constexpr bool short_run(int64_t len) { return len * int64_t(sizeof(T)) < kPrefetchRunBytes; }
// The n elements (whole lines) kPrefetchBytes after p[k], in a run of len values followed (next
// elements after p) by the channel's next run.
template <class T> REGCORE_HD void prefetch_ahead(const T* p, int64_t k, int64_t n, int64_t len, int64_t next) {
  constexpr int64_t ahead = kPrefetchBytes / int64_t(sizeof(T)), line = 64 / int64_t(sizeof(T));
  const int64_t t = k + ahead;
  const T* q = t < len ? p + t : p + next + (t - len);
  for (int64_t e = 0; e < n; e += line) __builtin_prefetch(q + e);
}

// ---------------------------------------------------------------- shifted moments of a span
//
// The rows-layout statistics pass (batch norm's moments_rows, layer norm's rows; the numerics are
// explained in batchnorm.cpp): s += d, q += d*d with d = widen(x) - K, in the lanes of Acc.

#if REGCORE_SIMD_W > 1
// One vector of data as float64 lanes (lo, hi). Float32 halves are loaded and widened straight
// from memory (vload_f64): widening a loaded vector's upper half costs an extra shuffle on the
// port the conversions need, and the statistics are compute-bound on cached data.
REGCORE_HD void load_wide(const float* p, VF64& lo, VF64& hi) {
  lo = vload_f64(p);
  hi = vload_f64(p + REGCORE_SIMD_W / 2);
}
REGCORE_HD void load_wide(const double* p, VF64& lo, VF64&) { lo = vload(p); }
// 16-bit data: vload_wide (simd/vec_*.h), exact.
REGCORE_HD void load_wide(const bfloat16_t* p, VF64& lo, VF64& hi) { vload_wide(p, lo, hi); }
REGCORE_HD void load_wide(const float16_t* p, VF64& lo, VF64& hi) { vload_wide(p, lo, hi); }

// Shifted moments of one vector: s += d, q += d*d with d = widen(v) - K.
// T: float or a 16-bit format (W elements per vector, two float64 halves). The subtraction and
// the s sums run as vsub_fma / vadd_fma (the same bits) on the multiply pipes, which otherwise
// had only d*d while the conversions and four adds queued for the add pipes.
template <class T> REGCORE_HD void acc_shift(Acc& s, Acc& q, const T* p, VF64 K, int half) {
  VF64 lo, hi;
  load_wide(p, lo, hi);
  const VF64 d0 = vsub_fma(lo, K), d1 = vsub_fma(hi, K);
  if (half == 0) {
    s.a0 = vadd_fma(s.a0, d0); s.a1 = vadd_fma(s.a1, d1);
    q.a0 = q.a0 + d0 * d0; q.a1 = q.a1 + d1 * d1;
  } else {
    s.a2 = vadd_fma(s.a2, d0); s.a3 = vadd_fma(s.a3, d1);
    q.a2 = q.a2 + d0 * d0; q.a3 = q.a3 + d1 * d1;
  }
}
REGCORE_HD void acc_shift(Acc& s, Acc& q, const double* p, VF64 K, int half) {
  const VF64 d = vsub_fma(vload(p), K);
  if (half == 0) { s.a0 = s.a0 + d; q.a0 = q.a0 + d * d; }
  else { s.a2 = s.a2 + d; q.a2 = q.a2 + d * d; }
}
#endif

// next: where the next run to be read starts, in elements after p (prefetch_ahead); a
// contiguous row's default is its own end.
template <class T> void span_shifted(Acc& s, Acc& q, const T* p, int64_t len, double K, int64_t next = -1) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t L = lanes<T>::n;
  const VF64 vK(K);
  // The two halves of the span side by side: two independent chains per sum (4 for float32), and
  // two load streams, which kept more lines in flight than one stream (+10% measured).
  const int64_t h = (len / (2 * L)) * L;
  if (next < 0) next = len;
  const bool pf = short_run<T>(len);
  for (; k < h; k += L) {
    if (pf) {   // the halves of the next run start at next and next + h (runs of one length; hints only)
      prefetch_ahead(p, k, L, h, next);
      prefetch_ahead(p + h, k, L, len - h, next);
    }
    acc_shift(s, q, p + k, vK, 0);
    acc_shift(s, q, p + h + k, vK, 1);
  }
  for (k = 2 * h; k + L <= len; k += L) acc_shift(s, q, p + k, vK, 0);
#endif
  for (; k < len; ++k) {
    const double d = widen(elem_load(p + k)) - K;
    s.s += d;
    q.s += d * d;
  }
}
