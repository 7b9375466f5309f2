// The storage <-> float32 conversions of the 16-bit formats (core/half.h, cpu/simd), as the active
// ISA level's kernels do them: convert_to_f32(src, dst), convert_from_f32(src, dst). src/dst are
// float16 arrays or bfloat16 data as a uint16 view (array_args.h) and float32 arrays of the same
// size. Used by the tests to check every 16-bit pattern on every ISA level.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../cpu/dispatch.h"
#include "array_args.h"

namespace regcore { namespace bindings {

namespace {

DType half_dtype(const py::array& a, const char* name) {
  const DType dt = float_dtype(a, name);
  if (dt != DType::bf16 && dt != DType::f16)
    throw py::type_error(std::string(name) + ": expected a 16-bit array (float16, or bfloat16 as a uint16 view), got " +
                         std::string(py::str(a.dtype())));
  return dt;
}

void same_size(const py::array& a, const py::array& b) {
  if (a.size() != b.size()) throw py::value_error("dst: expected as many elements as src");
}

void to_f32(const py::array& src, py::array& dst) {
  const DType dt = half_dtype(src, "src");
  same_size(src, dst);
  const void* s = in_ptr(src, dt, "src");
  float* d = out_ptr<float>(dst, "dst");
  py::gil_scoped_release release;
  cpu::active_convert_table().to_f32(dt, s, d, int64_t(src.size()));
}

void from_f32(const py::array& src, py::array& dst) {
  const DType dt = half_dtype(dst, "dst");
  same_size(src, dst);
  const float* s = in_ptr<float>(src, "src");
  void* d = out_ptr(dst, dt, "dst");
  py::gil_scoped_release release;
  cpu::active_convert_table().from_f32(dt, s, d, int64_t(src.size()));
}

}  // namespace

void bind_convert_cpu(py::module_& m) {
  m.def("convert_to_f32", &to_f32, py::arg("src").noconvert(), py::arg("dst").noconvert());
  m.def("convert_from_f32", &from_f32, py::arg("src").noconvert(), py::arg("dst").noconvert());
}

}}  // namespace regcore::bindings
