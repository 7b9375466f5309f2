// Element conversions to and from float64 (convert_table.h), compiled once per ISA level. The
// baseline layer uses them for its O(C) work, so it never needs an element type itself.
#include "../../core/dtype.h"
#include "../convert_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

void to_f64(DType dt, const void* src, double* dst, int64_t n) {
  visit_dtype(dt, [&](auto t) {
    const auto* s = static_cast<const REGCORE_TAG_TYPE(t)*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = double(s[i]);
  });
}
void from_f64(DType dt, const double* src, void* dst, int64_t n) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    S* d = static_cast<S*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = S(src[i]);
  });
}

}  // namespace

const cpu::ConvertTable& convert_table() {
  static const cpu::ConvertTable table = {to_f64, from_f64};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
