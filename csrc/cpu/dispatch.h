// Which ISA level's kernels run. Chosen once at import (the best the processor has, or a lower
// one forced by the caller), and the only code that chooses: kernels never test the processor.
#pragma once
#include <string>
#include "isa_tables.h"

namespace regcore { namespace cpu {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

bool isa_compiled(Isa isa);      // this build holds kernels for the level
bool isa_supported(Isa isa);     // ...and the processor and OS can run them
Isa best_isa();
Isa active_isa();
void set_active_isa(Isa isa);    // throws std::invalid_argument if not supported
const char* isa_name(Isa isa);
Isa isa_from_name(const std::string& name);  // throws std::invalid_argument

// AVX512_BF16, an extension the avx512 level does not require: the batch-norm kernels' bfloat16
// pair store uses its rounding instruction when this is on (the same bits either way, see
// simd/vec_avx512.h). On by default where the processor has it; tests turn it off to run the
// other path on such processors. Kernels ask here rather than testing the processor.
bool avx512_bf16_supported();
bool avx512_bf16_active();
void set_avx512_bf16(bool on);   // throws std::invalid_argument when turning on an unsupported one

// active_<getter>(): the active level's table of a family, e.g. active_random_table().
#define REGCORE_ACTIVE_GETTER(Table, getter) const Table& active_##getter();
REGCORE_FOR_EACH_TABLE(REGCORE_ACTIVE_GETTER)
#undef REGCORE_ACTIVE_GETTER

}}  // namespace regcore::cpu
