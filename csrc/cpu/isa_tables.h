// Declares, for every ISA level, the getter of each kernel family's table, and lets the baseline
// dispatcher pick the active level's. A family adds one line to REGCORE_FOR_EACH_TABLE.
//
// A table getter is defined in the family's kernel TU (csrc/cpu/kernels/<family>.cpp) inside
// regcore::<isa>::isa_kernels; its static table holds only function pointers, so no code
// compiled with one ISA's flags is shared with another.
#pragma once
#include "random_table.h"
#include "init_table.h"
#include "batchnorm_table.h"
#include "dropout_table.h"
#include "sgd_table.h"
#include "layernorm_table.h"
#include "convert_table.h"
#include "average_table.h"

#define REGCORE_FOR_EACH_TABLE(X) \
  X(RandomTable, random_table) \
  X(BatchNormTable, batchnorm_table) \
  X(DropoutTable, dropout_table) \
  X(InitTable, init_table) \
  X(SgdTable, sgd_table) \
  X(LayerNormTable, layernorm_table) \
  X(ConvertTable, convert_table) \
  X(AverageTable, average_table)

#define REGCORE_DECLARE_GETTER(Table, getter) const ::regcore::cpu::Table& getter();
namespace regcore {
namespace scalar { namespace isa_kernels { REGCORE_FOR_EACH_TABLE(REGCORE_DECLARE_GETTER) } }
namespace avx2 { namespace isa_kernels { REGCORE_FOR_EACH_TABLE(REGCORE_DECLARE_GETTER) } }
namespace avx512 { namespace isa_kernels { REGCORE_FOR_EACH_TABLE(REGCORE_DECLARE_GETTER) } }
}  // namespace regcore
#undef REGCORE_DECLARE_GETTER
