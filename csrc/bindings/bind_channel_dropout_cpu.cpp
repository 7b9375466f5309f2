// Channel (spatial) and alpha dropout kernels for NumPy arrays: dtype tag, pointer extraction,
// GIL release. No math here. Keep-word masks arrive as None or uint32 arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../cpu/channel_dropout_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

namespace {

cpu::DropoutRule rule_of(uint64_t seed, uint64_t offset, uint32_t threshold, bool drop_all) {
  return cpu::DropoutRule{seed, offset, threshold, drop_all ? 1u : 0u};
}

// A keep-word array covering `decisions` bits, or nullptr for None.
uint32_t* words_arg(py::object a, int64_t decisions, const char* name) {
  if (a.is_none()) return nullptr;
  py::array arr = py::reinterpret_borrow<py::array>(a);
  if (arr.size() < (decisions + 31) / 32) throw py::value_error(std::string(name) + ": mask too small for the data");
  return static_cast<uint32_t*>(out_ptr(arr, py::dtype::of<uint32_t>(), name));
}
const uint32_t* words_in(py::object a, int64_t decisions, const char* name) {
  if (a.is_none()) return nullptr;
  py::array arr = py::reinterpret_borrow<py::array>(a);
  if (arr.size() < (decisions + 31) / 32) throw py::value_error(std::string(name) + ": mask too small for the data");
  return static_cast<const uint32_t*>(in_ptr(arr, py::dtype::of<uint32_t>(), name));
}

void channel(py::array x, py::array y, py::object keep_in, py::object keep_out, int64_t batch, int64_t channels,
             int64_t spatial, bool channels_last, uint64_t seed, uint64_t offset, uint32_t t, bool drop_all,
             double scale, double shift, double dropped, bool affine) {
  const DType dt = float_dtype(x, "x");
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  if (batch < 0 || channels < 0 || spatial < 0 || x.size() != batch * channels * spatial || y.size() != x.size())
    throw py::value_error("x: size differs from batch * channels * spatial");
  const int64_t decisions = batch * channels;
  const uint32_t* kin = words_in(keep_in, decisions, "keep_in");
  uint32_t* kout = words_arg(keep_out, decisions, "keep_out");
  const cpu::ChannelShape shape{channels, spatial, channels_last ? 1 : 0};
  const cpu::MaskedAffine f{scale, shift, dropped, affine ? 1 : 0};
  const auto rule = rule_of(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::channel_dropout(dt, px, py_, kin, kout, batch, shape, rule, f);
}

void alpha(py::array x, py::array y, py::object bits, uint64_t seed, uint64_t offset, uint32_t t, bool drop_all,
           double scale, double shift, double dropped) {
  const DType dt = float_dtype(x, "x");
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  if (y.size() != x.size()) throw py::value_error("y: size differs from the input");
  const int64_t n = x.size();
  uint32_t* pb = words_arg(bits, n, "bits");
  const cpu::MaskedAffine f{scale, shift, dropped, 1};
  const auto rule = rule_of(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::alpha_dropout_forward(dt, px, py_, pb, n, rule, f);
}

}  // namespace

void bind_channel_dropout_cpu(py::module_& m) {
  m.def("channel_dropout", &channel, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("keep_in"),
        py::arg("keep_out"), py::arg("batch"), py::arg("channels"), py::arg("spatial"), py::arg("channels_last"),
        py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"), py::arg("scale"),
        py::arg("shift"), py::arg("dropped"), py::arg("affine"));
  m.def("alpha_dropout_forward", &alpha, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("bits"),
        py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"), py::arg("scale"),
        py::arg("shift"), py::arg("dropped"));
}

}}  // namespace regcore::bindings
