// Weight-averaging kernel, compiled once per ISA level (scalar, avx2, avx512). The arithmetic is
// core/average.h; this file only moves data: full SIMD vectors of the arithmetic type (16-bit
// elements widened / rounded by the vload / vstore vocabulary), then the same formula on single
// elements for the tail (identical bits: a lane and a scalar do the same IEEE operations, and the
// 16-bit vector conversions give the scalar ones' bits). The average is read before it is written,
// so plain stores are the right ones (the line is in cache already: no write-allocate read for a
// streaming store to save).
//
// Storage types: SA of the average, SP of the parameter, both computing in compute_t<SA>. The
// pairs are those of core/average.h's visit_avg_pair: (S, S) for every dtype, and float32
// averages of 16-bit parameters (the parameter widened exactly, the average stored in float32).
#include <cstring>
#include <type_traits>

#include "../../core/average.h"
#include "../simd/vec.h"
#include "../average_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

// The SIMD vector of an arithmetic type (vload of any storage type computing in it gives one).
// The scalar level has none: every element takes the element loop.
template <class C> struct avg_vec { static constexpr bool ok = false; };
#if REGCORE_SIMD_W > 1
template <> struct avg_vec<float> { static constexpr bool ok = true; using V = VF32; static constexpr int64_t L = REGCORE_SIMD_W; };
template <> struct avg_vec<double> { static constexpr bool ok = true; using V = VF64; static constexpr int64_t L = REGCORE_SIMD_W / 2; };
#endif

template <class SA, class SP, bool High>
void blend(SA* a, const SP* p, int64_t n, compute_t<SA> f) {
  using C = compute_t<SA>;
  int64_t i = 0;
  if constexpr (avg_vec<C>::ok) {
    using V = typename avg_vec<C>::V;
    constexpr int64_t L = avg_vec<C>::L;
    const V fv(f);
    for (; i + 2 * L <= n; i += 2 * L) {
      const V r0 = avg_blend(vload(a + i), vload(p + i), fv, High);
      const V r1 = avg_blend(vload(a + i + L), vload(p + i + L), fv, High);
      vstore(a + i, r0);
      vstore(a + i + L, r1);
    }
    for (; i + L <= n; i += L) vstore(a + i, avg_blend(vload(a + i), vload(p + i), fv, High));
  }
  for (; i < n; ++i) elem_store(a + i, avg_blend(elem_load(a + i), elem_load(p + i), f, High));
}

// avg <- param: every bit when the types agree; a narrower parameter widened exactly otherwise.
template <class SA, class SP>
void copy(SA* a, const SP* p, int64_t n) {
  if constexpr (std::is_same<SA, SP>::value) {
    std::memcpy(a, p, size_t(n) * sizeof(SA));
  } else {
    using C = compute_t<SA>;
    int64_t i = 0;
    if constexpr (avg_vec<C>::ok) {
      constexpr int64_t L = avg_vec<C>::L;
      for (; i + L <= n; i += L) vstore(a + i, vload(p + i));
    }
    for (; i < n; ++i) elem_store(a + i, elem_load(p + i));
  }
}

template <class SA, class SP>
void update(SA* a, const SP* p, int64_t n, double w64) {
  using C = compute_t<SA>;
  static_assert(std::is_same<C, compute_t<SP>>::value, "an average pair computes in one type");
  const C w = C(w64);
  const AvgMode m = avg_mode(w);
  switch (m) {
    case AvgMode::keep: return;
    case AvgMode::copy: copy(a, p, n); return;
    case AvgMode::low: blend<SA, SP, false>(a, p, n, avg_factor(w, m)); return;
    case AvgMode::high: blend<SA, SP, true>(a, p, n, avg_factor(w, m)); return;
  }
}

// ---------------------------------------------------------------- table entry: the dtypes become
// the storage types here, once.
void update_entry(const AvgTensor& t, int64_t begin, int64_t end, double w) {
  visit_avg_pair(t.dtype, t.param_dtype, [&](auto at, auto pt) {
    using SA = REGCORE_TAG_TYPE(at);
    using SP = REGCORE_TAG_TYPE(pt);
    update(static_cast<SA*>(t.avg) + begin, static_cast<const SP*>(t.param) + begin, end - begin, w);
  });
}

}  // namespace

const cpu::AverageTable& average_table() {
  static const cpu::AverageTable table = {update_entry};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
