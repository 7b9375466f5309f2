// Weight-init kernels for CUDA device views: dtype tag, pointer extraction, GIL release. No math.
#include <pybind11/pybind11.h>

#include "../cuda/init_api.h"
#include "../cuda/launch.h"
#include "device_view.h"

namespace regcore { namespace bindings {

void bind_init_cuda(py::module_& m) {
  m.def("init_trunc_normal", [](const DeviceView& out, uint64_t seed, uint64_t offset, double p_lo,
                                double p_span, double mean, double scale, double lo, double hi) {
    const DType dt = float_dtype(out, "out");
    check_view(out, dt, true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(out.device_id);
    cuda::fill_trunc_normal(dt, out.data, out.size(), seed, offset, p_lo, p_span, mean, scale, lo, hi, out.stream);
  });
}

}}  // namespace regcore::bindings
