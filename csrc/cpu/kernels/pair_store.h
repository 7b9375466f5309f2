// The store of two vectors of float32 lanes into 2W consecutive elements of any storage type,
// for the per-ISA kernels whose 16-bit outputs are stream-bound (dropout, random fills): one
// narrowing shuffle for both vectors, and for bfloat16 one NaN test for both (cpu/simd). The
// same bits as two vstore calls.
#pragma once
#include <type_traits>

#include "../simd/vec.h"

REGCORE_CORE_BEGIN
namespace isa_kernels {

#if REGCORE_SIMD_W > 1
template <class S, class V>
REGCORE_HD void pair_store(S* p, V a, V b) {
  if constexpr (std::is_same<S, bfloat16_t>::value) vstore2_nan_tested(p, a, b);
  else vstore2(p, a, b);
}
#endif

}  // namespace isa_kernels
REGCORE_CORE_END
