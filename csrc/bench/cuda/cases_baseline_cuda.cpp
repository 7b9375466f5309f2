// The device's copy baseline: a device-to-device cudaMemcpyAsync of n elements (read sn + write
// sn), what the driver's copy engine and kernels reach on this GPU's memory.
#include "../spec_baseline.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

template <class T>
CaseSpec device_copy(const char* dtype) {
  return spec::on_backend(spec::copy_spec<T>(dtype), "cuda", /*uses_isa=*/false, [](int64_t n) {
    return make_cuda_run([src = DeviceBuffer<T>(n, 1), dst = DeviceBuffer<T>(n), n](uintptr_t s) mutable {
      cuda::check(cudaMemcpyAsync(dst.data(), src.data(), size_t(n) * sizeof(T),
                                  cudaMemcpyDeviceToDevice, cuda::as_stream(s)),
                  "cudaMemcpyAsync");
    });
  });
}

const Register r_copy_f32{device_copy<float>("float32")};
const Register r_copy_f64{device_copy<double>("float64")};

}  // namespace
}}  // namespace regcore::bench
