// Random fills for NumPy arrays: dtype switch, pointer extraction, GIL release. No math here.
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
    const int64_t n = out.size();
    if (is_dtype<float>(out)) {
      float* p = out_ptr<float>(out, "out");
      py::gil_scoped_release nogil;
      cpu::fill_uniform(p, n, seed, offset, float(lo), float(span), float(hi));
    } else if (is_dtype<double>(out)) {
      double* p = out_ptr<double>(out, "out");
      py::gil_scoped_release nogil;
      cpu::fill_uniform(p, n, seed, offset, lo, span, hi);
    } else {
      unsupported_dtype(out, "out");
    }
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"), py::arg("lo"), py::arg("span"),
     py::arg("hi"));

  m.def("random_normal", [](py::array out, uint64_t seed, uint64_t offset, double mean, double std) {
    const int64_t n = out.size();
    if (is_dtype<float>(out)) {
      float* p = out_ptr<float>(out, "out");
      py::gil_scoped_release nogil;
      cpu::fill_normal(p, n, seed, offset, float(mean), float(std));
    } else if (is_dtype<double>(out)) {
      double* p = out_ptr<double>(out, "out");
      py::gil_scoped_release nogil;
      cpu::fill_normal(p, n, seed, offset, mean, std);
    } else {
      unsupported_dtype(out, "out");
    }
  }, py::arg("out").noconvert(), py::arg("seed"), py::arg("offset"), py::arg("mean"), py::arg("std"));
}

}}  // namespace regcore::bindings
