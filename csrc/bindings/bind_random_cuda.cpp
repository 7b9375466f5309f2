// Random fills for CUDA device views: dtype tag, pointer extraction, GIL release. No math.
#include <pybind11/pybind11.h>

#include "../cuda/launch.h"
#include "../cuda/random_api.h"
#include "device_view.h"

namespace regcore { namespace bindings {

void bind_random_cuda(py::module_& m) {
  m.def("random_bits", [](const DeviceView& out, uint64_t seed, uint64_t offset) {
    check_view(out, "uint32", true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    cuda::fill_bits(out.ptr<uint32_t>(), out.size(), seed, offset, out.stream);
  });
  m.def("random_uniform", [](const DeviceView& out, uint64_t seed, uint64_t offset, double lo, double span, double hi) {
    const DType dt = float_dtype(out, "out");
    check_view(out, dt, true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    cuda::fill_uniform(dt, out.data, out.size(), seed, offset, lo, span, hi, out.stream);
  });
  m.def("random_normal", [](const DeviceView& out, uint64_t seed, uint64_t offset, double mean, double std) {
    const DType dt = float_dtype(out, "out");
    check_view(out, dt, true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    cuda::fill_normal(dt, out.data, out.size(), seed, offset, mean, std, out.stream);
  });
}

}}  // namespace regcore::bindings
