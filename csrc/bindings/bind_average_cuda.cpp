// Weight averaging for CUDA device views: every pair checked before any launch (the update is all
// or nothing), GIL released. No math here.
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "../core/average.h"
#include "../cuda/average_api.h"
#include "../cuda/launch.h"
#include "device_view.h"
#include "average_pair.h"
#include "sgd_lists.h"

namespace regcore { namespace bindings {

namespace {

const DeviceView& list_view(py::handle h, const std::string& name) {
  try {
    return h.cast<const DeviceView&>();
  } catch (const py::cast_error&) {
    throw py::type_error(name + ": expected a CUDA device view");
  }
}

}  // namespace

void bind_average_cuda(py::module_& m) {
  m.def("average_multi", [](py::list avgs, py::list params, double w) {
    const size_t count = avgs.size();
    if (params.size() != count) throw py::value_error("params: expected a list as long as averages");
    if (!(w >= 0.0 && w <= 1.0)) throw py::value_error("weight: expected a value in [0, 1]");
    std::vector<AvgTensor> ts(count);
    int device = 0;
    uintptr_t stream = 1;
    for (size_t i = 0; i < count; ++i) {
      const std::string an = item_name("averages", i), pn = item_name("params", i);
      const DeviceView& a = list_view(avgs[i], an);
      const DeviceView& p = list_view(params[i], pn);
      const DType dt = float_dtype(a, an.c_str());
      const DType pdt = float_dtype(p, pn.c_str());
      check_avg_pair(dt, pdt, an, pn);
      check_view(a, dt, true, an.c_str());
      check_view(p, pdt, false, pn.c_str());
      if (p.size() != a.size() || p.device_id != a.device_id)
        throw py::value_error(pn + ": expected the size and device of " + an);
      if (i == 0) { device = a.device_id; stream = a.stream; }
      else if (a.device_id != device) throw py::value_error(an + ": expected the device of averages[0]");
      ts[i] = {a.data, p.data, a.size(), dt, pdt};
    }
    if (count == 0) return;
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(device);
    cuda::average_multi(ts.data(), count, w, stream);
  }, py::arg("averages"), py::arg("params"), py::arg("weight"));
}

}}  // namespace regcore::bindings
