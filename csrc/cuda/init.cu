// Weight-init sampling on the GPU: thin launches of core/init_transforms.h (the same code the CPU
// kernels and the tests run). Sparse selection and orthogonal run on the host (python/regcore/init.py).
#include "../core/init_transforms.h"
#include "init_api.h"
#include "stream_generate.cuh"

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

void fill_trunc_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double p_lo, double p_span,
                       double mean, double scale, double lo, double hi, uintptr_t stream) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    launch_stream_generate(static_cast<S*>(out), n, seed, offset,
                           TruncNormalTransform<compute_t<S>>(TruncNormalArgs{p_lo, p_span, mean, scale, lo, hi}), stream,
                           "init_trunc_normal");
  });
}

}}  // namespace regcore::cuda
