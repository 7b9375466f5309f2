// Random fills on the GPU: thin launches of the shared transforms.
#include "random_api.h"
#include "stream_generate.cuh"

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream) {
  launch_stream_generate(out, n, seed, offset, BitsTransform{}, stream, "random_bits");
}
void fill_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span, double hi,
                  uintptr_t stream) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    launch_stream_generate(static_cast<S*>(out), n, seed, offset, uniform_transform<S>(lo, span, hi), stream,
                           "random_uniform");
  });
}
void fill_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std,
                 uintptr_t stream) {
  visit_dtype(dt, [&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    launch_stream_generate(static_cast<S*>(out), n, seed, offset, normal_transform<S>(mean, std), stream,
                           "random_normal");
  });
}

}}  // namespace regcore::cuda
