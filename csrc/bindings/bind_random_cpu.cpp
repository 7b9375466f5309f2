// Random fills for NumPy arrays: dtype tag, pointer extraction, GIL release. No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../cpu/random_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

void bind_random_cpu(py::module_& m) {
  m.def("random_bits", [](py::array out, uint64_t seed, uint64_t offset) {
    uint32_t* p = out_ptr<uint32_t>(out, "out");
    const int64_t n = out.size();
    py::gil_scoped_release nogil;
    cpu::fill_bits(p, n, seed, offset);
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"));

  m.def("random_uniform", [](py::array out, uint64_t seed, uint64_t offset, double lo, double span,
                             double hi) {
    const DType dt = float_dtype(out, "out");
    void* p = out_ptr(out, dt, "out");
    const int64_t n = out.size();
    py::gil_scoped_release nogil;
    cpu::fill_uniform(dt, p, n, seed, offset, lo, span, hi);
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"), py::arg("lo"), py::arg("span"),
     py::arg("hi"));

  m.def("random_normal", [](py::array out, uint64_t seed, uint64_t offset, double mean, double std) {
    const DType dt = float_dtype(out, "out");
    void* p = out_ptr(out, dt, "out");
    const int64_t n = out.size();
    py::gil_scoped_release nogil;
    cpu::fill_normal(dt, p, n, seed, offset, mean, std);
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"), py::arg("mean"), py::arg("std"));
}

}}  // namespace regcore::bindings
