// Weight-init kernels for NumPy arrays: dtype switch, pointer extraction, GIL release. No math.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../cpu/init_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

void bind_init_cpu(py::module_& m) {
  m.def("init_trunc_normal", [](py::array out, uint64_t seed, uint64_t offset, double p_lo,
                                double p_span, double mean, double scale, double lo, double hi) {
    const int64_t n = out.size();
    if (is_dtype<float>(out)) {
      float* p = out_ptr<float>(out, "out");
      py::gil_scoped_release nogil;
      cpu::fill_trunc_normal(p, n, seed, offset, p_lo, p_span, mean, scale, lo, hi);
    } else if (is_dtype<double>(out)) {
      double* p = out_ptr<double>(out, "out");
      py::gil_scoped_release nogil;
      cpu::fill_trunc_normal(p, n, seed, offset, p_lo, p_span, mean, scale, lo, hi);
    } else {
      unsupported_dtype(out, "out");
    }
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"), py::arg("p_lo"),
     py::arg("p_span"), py::arg("mean"), py::arg("scale"), py::arg("lo"), py::arg("hi"));

  m.def("init_sparse_keep", [](py::array w, py::array keys, int64_t k) {
    if (w.ndim() != 2) throw py::value_error("w: expected a 2-D (rows, fan_in) array");
    const uint32_t* kp = in_ptr<uint32_t>(keys, "keys");
    if (keys.size() != w.size()) throw py::value_error("keys: expected as many elements as w");
    const int64_t rows = w.shape(0), fan_in = w.shape(1);
    if (k < 0 || k > fan_in) throw py::value_error("k: expected 0 <= k <= fan_in");
    if (is_dtype<float>(w)) {
      float* p = out_ptr<float>(w, "w");
      py::gil_scoped_release nogil;
      cpu::sparse_keep_smallest(p, kp, rows, fan_in, k);
    } else if (is_dtype<double>(w)) {
      double* p = out_ptr<double>(w, "w");
      py::gil_scoped_release nogil;
      cpu::sparse_keep_smallest(p, kp, rows, fan_in, k);
    } else {
      unsupported_dtype(w, "w");
    }
  }, py::arg("w").noconvert(), py::arg("keys").noconvert(), py::arg("k"));
}

}}  // namespace regcore::bindings
