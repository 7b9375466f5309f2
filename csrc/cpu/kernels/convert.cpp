// Element conversions (convert_table.h), compiled once per ISA level. The baseline layer uses the
// float64 ones for its O(C) work, so it never needs an element type itself; the float32 ones are
// the storage <-> compute conversions every kernel does as it loads and stores (elem_load / vload
// and their stores, core/half.h and cpu/simd), exposed whole so tests can check every 16-bit
// pattern on every ISA level.
#include "../../core/dtype.h"
#include "../convert_table.h"
#include "../simd/vec.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

void to_f64(DType dt, const void* src, double* dst, int64_t n) {
  visit_dtype(dt, [&](auto t) {
    const auto* s = static_cast<const REGCORE_TAG_TYPE(t)*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = double(elem_load(s + i));
  });
}
void from_f64(DType dt, const double* src, void* dst, int64_t n) {
  visit_dtype(dt, [&](auto t) {
    auto* d = static_cast<REGCORE_TAG_TYPE(t)*>(dst);
    for (int64_t i = 0; i < n; ++i) elem_store_f64(d + i, src[i]);
  });
}

// float32 <-> a 16-bit format: W lanes at a time through vload / vstore, the tail element by
// element. (float32 and float64 are not what these are for: compute_t of those is themselves.)
template <class S> void half_to_f32(const S* s, float* d, int64_t n) {
  int64_t i = 0;
#if REGCORE_SIMD_W > 1
  for (; i + REGCORE_SIMD_W <= n; i += REGCORE_SIMD_W) vstore(d + i, vload(s + i));
#endif
  for (; i < n; ++i) d[i] = elem_load(s + i);
}
template <class S> void half_from_f32(const float* s, S* d, int64_t n) {
  int64_t i = 0;
#if REGCORE_SIMD_W > 1
  for (; i + REGCORE_SIMD_W <= n; i += REGCORE_SIMD_W) vstore(d + i, vload(s + i));
#endif
  for (; i < n; ++i) elem_store(d + i, s[i]);
}

void to_f32(DType dt, const void* src, float* dst, int64_t n) {
  if (dt == DType::bf16) half_to_f32(static_cast<const bfloat16_t*>(src), dst, n);
  if (dt == DType::f16) half_to_f32(static_cast<const float16_t*>(src), dst, n);
}
void from_f32(DType dt, const float* src, void* dst, int64_t n) {
  if (dt == DType::bf16) half_from_f32(src, static_cast<bfloat16_t*>(dst), n);
  if (dt == DType::f16) half_from_f32(src, static_cast<float16_t*>(dst), n);
}

}  // namespace

const cpu::ConvertTable& convert_table() {
  static const cpu::ConvertTable table = {to_f64, from_f64, to_f32, from_f32};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
