// Channel (spatial) dropout and alpha dropout on a CUDA device (device pointers; stream as in
// launch.h). Same contract as csrc/cpu/channel_dropout_api.h: decisions, masks and outputs
// bit-identical with every CPU path.
#pragma once
#include <cstdint>

#include "../core/dtype.h"
#include "dropout_api.h"

namespace regcore { namespace cuda {

// y = keep ? x * scale [+ shift] : (affine ? dropped : +0), one decision per (sample, channel)
// (core/channel_dropout.h); decisions from keep_in when non-null, else drawn into keep_out when
// non-null, else into a stream-ordered temporary.
void channel_dropout(DType dt, const void* x, void* y, const uint32_t* keep_in, uint32_t* keep_out, int64_t batch,
                     int64_t channels, int64_t spatial, bool channels_last, const DropoutRule& rule, double scale,
                     double shift, double dropped, bool affine, uintptr_t stream);
// Element-wise alpha dropout forward over n elements (decision i = stream element i); bits
// (ceil(n/32) words) written when non-null. Its backward is dropout_backward with scale = a.
void alpha_dropout_forward(DType dt, const void* x, void* y, uint32_t* bits, int64_t n, const DropoutRule& rule,
                           double scale, double shift, double dropped, uintptr_t stream);

}}  // namespace regcore::cuda
