// Penalized SGD kernels, compiled once per ISA level (scalar, avx2, avx512). The arithmetic is
// core/sgd_rule.h; this file only moves data: full SIMD vectors, then the same rule on single
// elements for the tail (identical bits, since a lane and a scalar do the same IEEE operations).
#include "../../core/sgd_rule.h"
#include "../simd/vec.h"
#include "../sgd_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

#if REGCORE_SIMD_W > 1
template <class T> struct vec_of;
template <> struct vec_of<float> { using type = VF32; static constexpr int L = REGCORE_SIMD_W; };
template <> struct vec_of<double> { using type = VF64; static constexpr int L = REGCORE_SIMD_W / 2; };
// The 16 canonical lanes as float64 vectors of W/2 lanes each.
constexpr int kAccVecs = 16 / (REGCORE_SIMD_W / 2);
#endif

template <class T>
REGCORE_HD void step_one(T* w, const T* g, T* b, int64_t i, bool mom, bool first,
                         const SgdParams<T>& p) {
  T wv = w[i], bv = (mom && !first) ? b[i] : T(0);
  sgd_rule(wv, g[i], bv, first, p);
  w[i] = wv;
  if (mom) b[i] = bv;
}

// Updates [begin, end); returns where the vector part stopped (begin when scalar).
template <class T>
int64_t step_vectors(T* w, const T* g, T* b, int64_t begin, int64_t end, bool first,
                     const SgdParams<T>& p) {
  int64_t i = begin;
#if REGCORE_SIMD_W > 1
  using VT = typename vec_of<T>::type;
  constexpr int64_t L = vec_of<T>::L;
  const bool mom = (p.flags & kSgdMomentum) != 0;
  if (mom) {
    if (first) {
      for (; i + L <= end; i += L) {
        VT wv = vload(w + i), bv;
        sgd_rule(wv, vload(g + i), bv, true, p);
        vstore(w + i, wv);
        vstore(b + i, bv);
      }
    } else {
      for (; i + L <= end; i += L) {
        VT wv = vload(w + i), bv = vload(b + i);
        sgd_rule(wv, vload(g + i), bv, false, p);
        vstore(w + i, wv);
        vstore(b + i, bv);
      }
    }
  } else {
    for (; i + L <= end; i += L) {
      VT wv = vload(w + i), bv = VT(T(0));
      sgd_rule(wv, vload(g + i), bv, false, p);
      vstore(w + i, wv);
    }
  }
#else
  (void)w; (void)g; (void)b; (void)end; (void)first; (void)p;
#endif
  return i;
}

template <class T>
void step(T* w, const T* g, T* b, int64_t begin, int64_t end, bool first, const SgdParams<T>& p) {
  const bool mom = (p.flags & kSgdMomentum) != 0;
  for (int64_t i = step_vectors(w, g, b, begin, end, first, p); i < end; ++i)
    step_one(w, g, b, i, mom, first, p);
}

// Segment x[0, n) into the canonical lanes (see sgd_table.h).
template <class T>
void lanes(const T* x, int64_t n, double* abs_acc, double* sq) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t H = REGCORE_SIMD_W / 2;
  VF64 s[kAccVecs], a[kAccVecs];
  if (n < 16) goto tail;  // short segments (strided max-norm): no vector accumulators
  for (int j = 0; j < kAccVecs; ++j) { s[j] = vload_f64(sq + j * H); }
  if (abs_acc) {
    for (int j = 0; j < kAccVecs; ++j) a[j] = vload_f64(abs_acc + j * H);
    for (; k + 16 <= n; k += 16)
      for (int j = 0; j < kAccVecs; ++j) {
        VF64 v = vload_f64(x + k + j * H);
        a[j] = a[j] + sgd_abs(v);
        s[j] = s[j] + v * v;
      }
    for (int j = 0; j < kAccVecs; ++j) vstore_f64(abs_acc + j * H, a[j]);
  } else {
    for (; k + 16 <= n; k += 16)
      for (int j = 0; j < kAccVecs; ++j) {
        VF64 v = vload_f64(x + k + j * H);
        s[j] = s[j] + v * v;
      }
  }
  for (int j = 0; j < kAccVecs; ++j) vstore_f64(sq + j * H, s[j]);
tail:
#endif
  for (; k < n; ++k) {
    const double v = double(x[k]);
    if (abs_acc) abs_acc[k & 15] = abs_acc[k & 15] + sgd_abs(v);
    sq[k & 15] = sq[k & 15] + v * v;
  }
}

template <class T>
void sumsq_add(const T* x, int64_t n, double* acc) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  constexpr int64_t H = REGCORE_SIMD_W / 2;
  for (; k + H <= n; k += H) {
    const VF64 v = vload_f64(x + k);
    vstore_f64(acc + k, vload_f64(acc + k) + v * v);
  }
#endif
  for (; k < n; ++k) {
    const double v = double(x[k]);
    acc[k] = acc[k] + v * v;
  }
}

template <class T>
void scale(T* x, int64_t n, T s) {
  int64_t i = 0;
#if REGCORE_SIMD_W > 1
  using VT = typename vec_of<T>::type;
  constexpr int64_t L = vec_of<T>::L;
  const VT sv(s);
  for (; i + L <= n; i += L) vstore(x + i, vload(x + i) * sv);
#endif
  for (; i < n; ++i) x[i] = x[i] * s;
}

// One row at a time: update it, sum the squares of the new weights while the row is hot in
// cache, and rescale it there (at most one extra read and write of the row, from cache).
constexpr int64_t kRowBlock = 2048;

template <class T>
void step_rows(T* w, const T* g, T* b, int64_t r0, int64_t r1, int64_t len, bool first,
               const SgdParams<T>& p, double max_norm) {
  const bool mom = (p.flags & kSgdMomentum) != 0;
  for (int64_t r = r0; r < r1; ++r) {
    T* wr = w + r * len;
    const T* gr = g + r * len;
    T* br = mom ? b + r * len : nullptr;
    double sq[16] = {0};
    // Blocks of kRowBlock elements (a multiple of 16, so lane positions stay relative to the
    // row start): update the block, then fold its fresh values into the lanes from L1.
    for (int64_t k = 0; k < len; k += kRowBlock) {
      const int64_t e = (k + kRowBlock < len) ? k + kRowBlock : len;
      step(wr, gr, br, k, e, first, p);
      lanes(wr + k, e - k, nullptr, sq);
    }
    const double s = sgd_max_norm_scale(sgd_lane_tree(sq), max_norm);
    if (s != 1.0) scale(wr, len, T(s));
  }
}

// ---------------------------------------------------------------- table entries: the dtype
// becomes the storage type here, once per op; the hyper-parameters are rounded once to it.

void step_entry(const SgdTensor& t, int64_t begin, int64_t end, const SgdHyper& h) {
  visit_dtype_f32_f64(t.dtype, [&](auto tag) {
    using T = REGCORE_TAG_TYPE(tag);
    step(static_cast<T*>(t.w), static_cast<const T*>(t.g), static_cast<T*>(t.b), begin, end, t.first,
         sgd_params<compute_t<T>>(h));
  });
}
void step_rows_entry(const SgdTensor& t, int64_t r0, int64_t r1, const SgdHyper& h) {
  visit_dtype_f32_f64(t.dtype, [&](auto tag) {
    using T = REGCORE_TAG_TYPE(tag);
    step_rows(static_cast<T*>(t.w), static_cast<const T*>(t.g), static_cast<T*>(t.b), r0, r1, t.inner, t.first,
              sgd_params<compute_t<T>>(h), h.max_norm);
  });
}
void lanes_entry(DType dt, const void* x, int64_t n, double* a, double* s) {
  visit_dtype_f32_f64(dt, [&](auto tag) { lanes(static_cast<const REGCORE_TAG_TYPE(tag)*>(x), n, a, s); });
}
void sumsq_add_entry(DType dt, const void* x, int64_t n, double* acc) {
  visit_dtype_f32_f64(dt, [&](auto tag) { sumsq_add(static_cast<const REGCORE_TAG_TYPE(tag)*>(x), n, acc); });
}
void scale_entry(DType dt, void* x, int64_t n, double s) {
  visit_dtype_f32_f64(dt, [&](auto tag) {
    using T = REGCORE_TAG_TYPE(tag);
    scale(static_cast<T*>(x), n, compute_t<T>(s));
  });
}

}  // namespace

const cpu::SgdTable& sgd_table() {
  static const cpu::SgdTable table = {step_entry, step_rows_entry, lanes_entry, sumsq_add_entry, scale_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
