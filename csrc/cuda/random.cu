// Random fills on the GPU: thin launches of the shared transforms.
#include "random_api.h"
#include "stream_generate.cuh"

namespace regcore { namespace cuda {

using namespace ::regcore::cuda_kernels;

void fill_bits(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream) {
  launch_stream_generate(out, n, seed, offset, BitsTransform{}, stream, "random_bits");
}
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float span, float hi, uintptr_t stream) {
  launch_stream_generate(out, n, seed, offset, UniformF32Transform{lo, span, hi}, stream, "random_uniform");
}
void fill_uniform(double* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span, double hi, uintptr_t stream) {
  launch_stream_generate(out, n, seed, offset, UniformF64Transform{lo, span, hi}, stream, "random_uniform");
}
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std, uintptr_t stream) {
  launch_stream_generate(out, n, seed, offset, NormalF32Transform{mean, std}, stream, "random_normal");
}
void fill_normal(double* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std, uintptr_t stream) {
  launch_stream_generate(out, n, seed, offset, NormalF64Transform{mean, std}, stream, "random_normal");
}

}}  // namespace regcore::cuda
