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
// a += v (widened); a1 takes the upper half of a float32 vector.
REGCORE_HD void acc_add(VF64& a0, VF64& a1, VF32 v) { a0 = a0 + widen_lo(v); a1 = a1 + widen_hi(v); }
REGCORE_HD void acc_add(VF64& a0, VF64&, VF64 v) { a0 = a0 + v; }
REGCORE_HD void acc_sqdev(VF64& a0, VF64& a1, VF32 v, VF64 m) {
  const VF64 d0 = widen_lo(v) - m, d1 = widen_hi(v) - m;
  a0 = a0 + d0 * d0;
  a1 = a1 + d1 * d1;
}
REGCORE_HD void acc_sqdev(VF64& a0, VF64&, VF64 v, VF64 m) { const VF64 d = v - m; a0 = a0 + d * d; }
REGCORE_HD void acc_mul(VF64& a0, VF64& a1, VF32 u, VF32 v) {
  a0 = a0 + widen_lo(u) * widen_lo(v);
  a1 = a1 + widen_hi(u) * widen_hi(v);
}
REGCORE_HD void acc_mul(VF64& a0, VF64&, VF64 u, VF64 v) { a0 = a0 + u * v; }
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

