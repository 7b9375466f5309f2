// Weight-init kernels for CUDA device views: dtype switch, pointer extraction, GIL release. No math.
#include <pybind11/pybind11.h>

#include "../cuda/init_api.h"
#include "../cuda/launch.h"
#include "device_view.h"

namespace regcore { namespace bindings {

void bind_init_cuda(py::module_& m) {
  m.def("init_trunc_normal", [](const DeviceView& out, uint64_t seed, uint64_t offset, double p_lo,
                                double p_span, double mean, double scale, double lo, double hi) {
    const bool f32 = out.dtype == "float32";
    check_view(out, f32 ? "float32" : "float64", true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    if (f32) cuda::fill_trunc_normal(out.ptr<float>(), out.size(), seed, offset, p_lo, p_span, mean, scale, lo, hi, out.stream);
    else cuda::fill_trunc_normal(out.ptr<double>(), out.size(), seed, offset, p_lo, p_span, mean, scale, lo, hi, out.stream);
  });
}

}}  // namespace regcore::bindings
