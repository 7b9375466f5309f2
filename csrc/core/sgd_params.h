// The hyper-parameters of one penalized SGD step, already combined into the coefficients the
// update rule multiplies by (docs/sgd.md). A plain aggregate outside the per-ISA namespaces: it
// holds no code, so the baseline dispatcher, every ISA's kernels and CUDA can share the type.
//
// The Python layer computes every derived coefficient (1 - dampening, lr*l1, 1 - lr*decay) in
// float64 and rounds it once to the parameter's dtype; the NumPy backend rounds the same way,
// which is what keeps all backends bit-identical.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace regcore {

enum SgdFlags : uint32_t {
  kSgdMaximize = 1u << 0,       // g <- -g
  kSgdWeightDecay = 1u << 1,    // g <- g + wd*w (coupled L2)
  kSgdL1Subgrad = 1u << 2,      // g <- g + l1*sign(w)
  kSgdMomentum = 1u << 3,       // heavy-ball buffer (read unless first, always written)
  kSgdNesterov = 1u << 4,       // d <- g + momentum*b
  kSgdDecoupled = 1u << 5,      // w <- w*(1 - lr*decay)
  kSgdL1Prox = 1u << 6,         // soft threshold at lr*l1 after the step
  kSgdStochastic = 1u << 7,     // 16-bit params: stochastic rounding of the new value (core/stochastic_round.h)
};

template <class T>
struct SgdParams {
  T lr;           // learning rate
  T momentum;     // mu
  T damp_keep;    // 1 - dampening
  T wd;           // coupled L2 coefficient
  T decay_keep;   // 1 - lr*decoupled_weight_decay
  T l1;           // subgradient L1 coefficient
  T l1_thr;       // proximal threshold lr*l1
  uint32_t flags;
};

// One parameter tensor of a step (host or device pointers). b is null without momentum.
// Max-norm geometry: the tensor viewed as (outer, rows, inner) with rows the neuron axis;
// rows == 0 means no max-norm.
//
// 16-bit parameters (dtype bf16/f16): g has the same dtype, b is float32 (the arithmetic type).
// With a float32 master copy the step runs on the master instead: w is the master (dtype f32),
// g stays 16-bit (half_dtype), and after the whole step (max-norm included) half_out receives
// the master rounded to nearest even. A value-initialized tensor has no master (half_out null).
struct SgdTensor {
  void* w;
  const void* g;
  void* b;
  int64_t n;
  DType dtype;  // of w (and of g and b, except as above)
  bool first;  // the momentum buffer is new: b <- d instead of reading it
  int64_t outer, rows, inner;
  void* half_out;      // the 16-bit parameters of a float32 master w; null without a master
  DType half_dtype;    // their dtype (and g's) when half_out is set
  uint64_t sr_offset;  // kSgdStochastic: counter block of element 0's random word (element i: word
                       // i % 4 of block sr_offset + i / 4, the `bits` draw of docs/random.md)
};


// Hyper-parameters in float64 (sgd_params<C>, core/sgd_rule.h, rounds them once to the tensor's
// arithmetic type).
struct SgdHyper {
  double lr, momentum, damp_keep, wd, decay_keep, l1, l1_thr;
  uint32_t flags;
  double max_norm;  // > 0 when some tensor has rows > 0
  uint64_t seed;    // kSgdStochastic: the generator's seed (each tensor has its own sr_offset)
};

// A tensor of a penalty sum.
struct PenaltyTensor {
  const void* x;
  int64_t n;
  DType dtype;
};

// Elements per chunk of the penalty's partial sums (and of the CPU's streaming work items).
constexpr int64_t kSgdChunk = int64_t(1) << 16;

}  // namespace regcore
