// Whole-array channel (spatial) dropout and alpha dropout on the CPU: the active ISA's kernels
// over fixed chunks in parallel (chunk boundaries depend only on the sizes, so every result is
// the same for any thread count). `dt` is the element type of the data arrays.
#pragma once
#include <cstdint>

#include "channel_dropout_table.h"

namespace regcore { namespace cpu {

// y = masked affine map of x (channel_dropout_table.h) with one decision per (sample, channel):
// batch * shape.channels decisions, read from keep_in when non-null (a stored mask or a
// backward), else drawn from rule into keep_out when non-null (the stored mask), else into a
// temporary.
void channel_dropout(DType dt, const void* x, void* y, const uint32_t* keep_in, uint32_t* keep_out, int64_t batch,
                     const ChannelShape& shape, const DropoutRule& rule, const MaskedAffine& f);
// Element-wise alpha dropout forward over n elements; bits (ceil(n/32) words) written when non-null.
// Its backward is dropout_backward with scale = a.
void alpha_dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, int64_t n, const DropoutRule& rule,
                           const MaskedAffine& f);

}}  // namespace regcore::cpu
