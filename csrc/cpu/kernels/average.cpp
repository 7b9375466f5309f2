// Weight-averaging kernel, compiled once per ISA level (scalar, avx2, avx512). The arithmetic is
// core/average.h; this file only moves data: full SIMD vectors of the storage type, then the same
// formula on single elements for the tail (identical bits: a lane and a scalar do the same IEEE
// operations). The average is read before it is written, so plain stores are the right ones (the
// line is in cache already: no write-allocate read for a streaming store to save).
#include <cstring>
#include <type_traits>

#include "../../core/average.h"
#include "../simd/vec.h"
#include "../average_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

// The SIMD vector of a storage type whose elements are their own arithmetic type. A storage type
// without one (a narrower float converted to compute_t<S>) takes the element loop.
template <class S> struct avg_vec { static constexpr bool ok = false; };
#if REGCORE_SIMD_W > 1
template <> struct avg_vec<float> { static constexpr bool ok = true; using V = VF32; static constexpr int64_t L = REGCORE_SIMD_W; };
template <> struct avg_vec<double> { static constexpr bool ok = true; using V = VF64; static constexpr int64_t L = REGCORE_SIMD_W / 2; };
#endif

template <class S, bool High>
void blend(S* a, const S* p, int64_t n, compute_t<S> f) {
  using C = compute_t<S>;
  int64_t i = 0;
  if constexpr (avg_vec<S>::ok) {
    using V = typename avg_vec<S>::V;
    constexpr int64_t L = avg_vec<S>::L;
    const V fv(f);
    for (; i + 2 * L <= n; i += 2 * L) {
      const V r0 = avg_blend(vload(a + i), vload(p + i), fv, High);
      const V r1 = avg_blend(vload(a + i + L), vload(p + i + L), fv, High);
      vstore(a + i, r0);
      vstore(a + i + L, r1);
    }
    for (; i + L <= n; i += L) vstore(a + i, avg_blend(vload(a + i), vload(p + i), fv, High));
  }
  for (; i < n; ++i) a[i] = S(avg_blend(C(a[i]), C(p[i]), f, High));
}

template <class S>
void update(S* a, const S* p, int64_t n, double w64) {
  using C = compute_t<S>;
  const C w = C(w64);
  const AvgMode m = avg_mode(w);
  switch (m) {
    case AvgMode::keep: return;
    case AvgMode::copy: std::memcpy(a, p, size_t(n) * sizeof(S)); return;
    case AvgMode::low: blend<S, false>(a, p, n, avg_factor(w, m)); return;
    case AvgMode::high: blend<S, true>(a, p, n, avg_factor(w, m)); return;
  }
}

// ---------------------------------------------------------------- table entry: the dtype becomes
// the storage type here, once.
void update_entry(DType dt, void* a, const void* p, int64_t n, double w) {
  visit_dtype(dt, [&](auto tag) {
    using S = REGCORE_TAG_TYPE(tag);
    update(static_cast<S*>(a), static_cast<const S*>(p), n, w);
  });
}

}  // namespace

const cpu::AverageTable& average_table() {
  static const cpu::AverageTable table = {update_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
