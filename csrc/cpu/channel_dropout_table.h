// Channel (spatial) dropout and alpha dropout kernels of one ISA level (plain function pointers
// and PODs only: shared by the baseline dispatcher and every per-ISA translation unit). The math
// is core/channel_dropout.h; the keep rule and the stream are dropout's (dropout_table.h).
#pragma once
#include <cstdint>

#include "../core/dtype.h"
#include "dropout_table.h"

namespace regcore { namespace cpu {

// Shape of the data as the decisions see it: `channels` per sample, `spatial` elements per
// channel, and whether channels are the last (fastest) axis.
struct ChannelShape {
  int64_t channels;
  int64_t spatial;
  int channels_last;
};

// y = keep ? x * scale [+ shift] : (affine ? dropped : +0), core/channel_dropout.h.
struct MaskedAffine {
  double scale;
  double shift;
  double dropped;
  int affine;
};

struct ChannelDropoutTable {
  // Keep words [q0, q1) of the first n decisions of the stream (pad bits of the last word zero).
  void (*keep_words)(uint32_t* words, int64_t q0, int64_t q1, int64_t n, const DropoutRule& rule);
  // Elements [begin, end) of the data: the decision of element i is bit channel_decision(i) of
  // keep (any begin; no word of keep is written). stream: write y with non-temporal stores
  // where a vector is aligned (fenced before returning).
  void (*channel_apply)(DType dt, const void* x, void* y, const uint32_t* keep, int64_t begin, int64_t end,
                        const ChannelShape& shape, const MaskedAffine& f, int stream);
  // Element-wise alpha dropout forward: one decision per element drawn as dropout draws it
  // (begin a multiple of 32), bits written when non-null.
  void (*alpha_forward)(DType dt, const void* x, void* y, uint32_t* bits, int64_t begin, int64_t end,
                        const DropoutRule& rule, const MaskedAffine& f);
};

}}  // namespace regcore::cpu
