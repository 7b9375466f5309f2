// Weight-init kernels for NumPy arrays: dtype tag, pointer extraction, GIL release. No math.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../cpu/init_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

void bind_init_cpu(py::module_& m) {
  m.def("init_trunc_normal", [](py::array out, uint64_t seed, uint64_t offset, double p_lo,
                                double p_span, double mean, double scale, double lo, double hi) {
    const DType dt = float_dtype(out, "out");
    void* p = out_ptr(out, dt, "out");
    const int64_t n = out.size();
    py::gil_scoped_release nogil;
    cpu::fill_trunc_normal(dt, p, n, seed, offset, p_lo, p_span, mean, scale, lo, hi);
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"), py::arg("p_lo"),
     py::arg("p_span"), py::arg("mean"), py::arg("scale"), py::arg("lo"), py::arg("hi"));

  m.def("init_sparse_keep", [](py::array w, py::array keys, int64_t k) {
    if (w.ndim() != 2) throw py::value_error("w: expected a 2-D (rows, fan_in) array");
    const uint32_t* kp = in_ptr<uint32_t>(keys, "keys");
    if (keys.size() != w.size()) throw py::value_error("keys: expected as many elements as w");
    const int64_t rows = w.shape(0), fan_in = w.shape(1);
    if (k < 0 || k > fan_in) throw py::value_error("k: expected 0 <= k <= fan_in");
    const DType dt = float_dtype(w, "w");
    void* p = out_ptr(w, dt, "w");
    py::gil_scoped_release nogil;
    cpu::sparse_keep_smallest(dt, p, kp, rows, fan_in, k);
  }, py::arg("w").noconvert(), py::arg("keys").noconvert(), py::arg("k"));
}

}}  // namespace regcore::bindings
