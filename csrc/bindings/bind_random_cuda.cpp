// Random fills for CUDA device views: dtype switch, pointer extraction, GIL release. No math.
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
    const bool f32 = out.dtype == "float32";
    check_view(out, f32 ? "float32" : "float64", true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    if (f32) cuda::fill_uniform(out.ptr<float>(), out.size(), seed, offset, float(lo), float(span), float(hi), out.stream);
    else cuda::fill_uniform(out.ptr<double>(), out.size(), seed, offset, lo, span, hi, out.stream);
  });
  m.def("random_normal", [](const DeviceView& out, uint64_t seed, uint64_t offset, double mean, double std) {
    const bool f32 = out.dtype == "float32";
    check_view(out, f32 ? "float32" : "float64", true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    if (f32) cuda::fill_normal(out.ptr<float>(), out.size(), seed, offset, float(mean), float(std), out.stream);
    else cuda::fill_normal(out.ptr<double>(), out.size(), seed, offset, mean, std, out.stream);
  });
}

}}  // namespace regcore::bindings
