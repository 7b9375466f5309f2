// Build-wide macros shared by every translation unit (CPU per-ISA, baseline, CUDA).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define REGCORE_HD __host__ __device__ __forceinline__
#else
#define REGCORE_HD inline __attribute__((always_inline))
#endif

// Every translation unit that includes core/ math is compiled with REGCORE_ISA_TAG set to its
// instruction-set level (scalar, avx2, avx512, cuda; baseline when unset). The core headers open
// an inline namespace of that name, so an inline function compiled with -mavx512f gets a mangled
// name of its own and the linker can never hand that copy to a scalar caller (the one-definition
// trap of per-ISA translation units).
#ifndef REGCORE_ISA_TAG
#define REGCORE_ISA_TAG baseline
#endif
#define REGCORE_CORE_BEGIN namespace regcore { inline namespace REGCORE_ISA_TAG {
#define REGCORE_CORE_END } }
