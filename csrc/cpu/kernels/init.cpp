// Weight-init sampling kernels (truncated normal), compiled once per ISA level like random.cpp.
// The other samplers reuse the random table: uniform/normal with host-computed bounds and std.
#include "stream_generate.h"
#include "../../core/init_transforms.h"
#include "../init_table.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {
namespace {

void trunc_normal(DType dt, void* out, int64_t b, int64_t e, uint64_t seed, uint64_t off, double p_lo,
                  double p_span, double mean, double scale, double lo, double hi) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    stream_generate(static_cast<S*>(out), b, e, seed, off,
                    TruncNormalTransform<compute_t<S>>(TruncNormalArgs{p_lo, p_span, mean, scale, lo, hi}));
  });
}

}  // namespace

const cpu::InitTable& init_table() {
  static const cpu::InitTable table = {trunc_normal};
  return table;
}

}  // namespace isa_kernels
REGCORE_CORE_END
