// Weight averaging for NumPy arrays: two lists of arrays -> a table of raw pointers and dtype
// tags, every pair checked before any kernel runs (the update is all or nothing), GIL released.
// The Python layer has already validated the arguments and refused aliasing; these checks keep
// the extension safe when called directly. No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "../core/average.h"
#include "../cpu/average_api.h"
#include "array_args.h"
#include "average_pair.h"
#include "sgd_lists.h"

namespace regcore { namespace bindings {

namespace {

py::array list_array(py::handle h, const std::string& name) {
  if (!py::isinstance<py::array>(h)) throw py::type_error(name + ": expected a NumPy array");
  return py::reinterpret_borrow<py::array>(h);
}

}  // namespace

void bind_average_cpu(py::module_& m) {
  m.def("average_multi", [](py::list avgs, py::list params, double w) {
    const size_t count = avgs.size();
    if (params.size() != count) throw py::value_error("params: expected a list as long as averages");
    if (!(w >= 0.0 && w <= 1.0)) throw py::value_error("weight: expected a value in [0, 1]");
    std::vector<py::array> keep;
    keep.reserve(2 * count);
    std::vector<cpu::AvgTensor> ts(count);
    for (size_t i = 0; i < count; ++i) {
      const std::string an = item_name("averages", i), pn = item_name("params", i);
      py::array a = list_array(avgs[i], an), p = list_array(params[i], pn);
      const DType dt = float_dtype(a, an.c_str());
      const DType pdt = float_dtype(p, pn.c_str());
      check_avg_pair(dt, pdt, an, pn);
      if (p.size() != a.size()) throw py::value_error(pn + ": expected as many elements as " + an);
      ts[i] = {out_ptr(a, dt, an.c_str()), in_ptr(p, pdt, pn.c_str()), int64_t(a.size()), dt, pdt};
      keep.push_back(a);
      keep.push_back(p);
    }
    py::gil_scoped_release nogil;
    cpu::average_multi(ts.data(), count, w);
  }, py::arg("averages"), py::arg("params"), py::arg("weight"));
}

}}  // namespace regcore::bindings
