// The SIMD vocabulary of the translation unit being compiled: AVX-512, AVX2 or none (scalar),
// chosen by the per-ISA compile definition. Kernels include this and are written once against
// the names VU32/VF32 (W lanes), VU32H/VF64/VU64 (W/2 lanes) and REGCORE_SIMD_W.
#pragma once
#include "../../core/scalar_ops.h"
#if defined(REGCORE_ISA_avx512)
#include "vec_avx512.h"
#elif defined(REGCORE_ISA_avx2)
#include "vec_avx2.h"
#else
#define REGCORE_SIMD_W 1
#endif
