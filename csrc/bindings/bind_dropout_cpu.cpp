// Dropout-family kernels for NumPy arrays: dtype tag, pointer extraction, GIL release. No
// math here. Optional masks arrive as None or arrays (uint32 bit words / uint8 bytes).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../cpu/dropout_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

namespace {

cpu::DropoutRule make_rule(uint64_t seed, uint64_t offset, uint32_t threshold, bool drop_all) {
  return cpu::DropoutRule{seed, offset, threshold, drop_all ? 1u : 0u};
}

template <class T>
T* opt_out(py::object a, const char* name) {
  if (a.is_none()) return nullptr;
  py::array arr = py::reinterpret_borrow<py::array>(a);
  return out_ptr<T>(arr, name);
}
template <class T>
const T* opt_in(py::object a, const char* name) {
  if (a.is_none()) return nullptr;
  return in_ptr<T>(py::reinterpret_borrow<py::array>(a), name);
}
const void* opt_in(py::object a, DType dt, const char* name) {
  if (a.is_none()) return nullptr;
  return in_ptr(py::reinterpret_borrow<py::array>(a), dt, name);
}
// Mask arrays must cover n elements; the Python layer allocated them, this guards the pointer.
void check_mask_size(py::object bits, py::object bytes, int64_t n) {
  if (!bits.is_none() && py::reinterpret_borrow<py::array>(bits).size() < (n + 31) / 32)
    throw py::value_error("bits: mask too small for the data");
  if (!bytes.is_none() && py::reinterpret_borrow<py::array>(bytes).size() < n)
    throw py::value_error("bytes: mask too small for the data");
}
void check_same_size(const py::array& a, const py::array& b, const char* name) {
  if (a.size() != b.size()) throw py::value_error(std::string(name) + ": size differs from the input");
}

void forward(py::array x, py::array y, py::object bits, py::object bytes, uint64_t seed,
             uint64_t offset, uint32_t t, bool drop_all, double scale) {
  const DType dt = float_dtype(x, "x");
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_same_size(x, y, "y");
  const int64_t n = x.size();
  check_mask_size(bits, bytes, n);
  uint32_t* pb = opt_out<uint32_t>(bits, "bits");
  uint8_t* pB = opt_out<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::dropout_forward(dt, px, py_, pb, pB, n, rule, scale);
}

void backward(py::array dy, py::array dx, py::object bits, py::object bytes, uint64_t seed,
              uint64_t offset, uint32_t t, bool drop_all, double scale) {
  const DType dt = float_dtype(dy, "dy");
  const void* pdy = in_ptr(dy, dt, "dy");
  void* pdx = out_ptr(dx, dt, "dx");
  check_same_size(dy, dx, "dx");
  const int64_t n = dy.size();
  check_mask_size(bits, bytes, n);
  const uint32_t* pb = opt_in<uint32_t>(bits, "bits");
  const uint8_t* pB = opt_in<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::dropout_backward(dt, pdy, pdx, pb, pB, n, rule, scale);
}

void check_cols(const py::array& x, const py::array& bias) {
  const int64_t cols = bias.size();
  if (x.size() > 0 && (cols == 0 || x.size() % cols != 0))
    throw py::value_error("bias: length must divide the size of x");
}

void ba_forward(py::array x, py::array bias, py::object residual, py::array y, py::object bits,
                py::object bytes, int act, uint64_t seed, uint64_t offset, uint32_t t,
                bool drop_all, double scale) {
  const DType dt = float_dtype(x, "x");
  const void* px = in_ptr(x, dt, "x");
  const void* pbias = in_ptr(bias, dt, "bias");
  const void* pres = opt_in(residual, dt, "residual");
  if (!residual.is_none()) check_same_size(x, py::reinterpret_borrow<py::array>(residual), "residual");
  void* py_ = out_ptr(y, dt, "y");
  check_same_size(x, y, "y");
  check_cols(x, bias);
  const int64_t n = x.size(), cols = bias.size();
  check_mask_size(bits, bytes, n);
  uint32_t* pb = opt_out<uint32_t>(bits, "bits");
  uint8_t* pB = opt_out<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::bias_act_forward(dt, px, pbias, pres, py_, pb, pB, n, cols, act, rule, scale);
}

void ba_backward(py::array dy, py::array x, py::array bias, py::object bits, py::object bytes,
                 py::array dx, py::array dbias, int act, uint64_t seed, uint64_t offset,
                 uint32_t t, bool drop_all, double scale) {
  const DType dt = float_dtype(x, "x");
  const void* pdy = in_ptr(dy, dt, "dy");
  const void* px = in_ptr(x, dt, "x");
  const void* pbias = in_ptr(bias, dt, "bias");
  void* pdx = out_ptr(dx, dt, "dx");
  void* pdb = out_ptr(dbias, dt, "dbias");
  check_same_size(x, dy, "dy");
  check_same_size(x, dx, "dx");
  check_same_size(bias, dbias, "dbias");
  check_cols(x, bias);
  const int64_t n = x.size(), cols = bias.size();
  check_mask_size(bits, bytes, n);
  const uint32_t* pb = opt_in<uint32_t>(bits, "bits");
  const uint8_t* pB = opt_in<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::bias_act_backward(dt, pdy, px, pbias, pb, pB, pdx, pdb, n, cols, act, rule, scale);
}

void noise(py::array x, py::array y, uint64_t seed, uint64_t offset, double mean, double std,
           bool multiplicative) {
  const DType dt = float_dtype(x, "x");
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_same_size(x, y, "y");
  if (px == py_ && x.size() > 0) throw py::value_error("y: must not be x (the noise is drawn into y)");
  const int64_t n = x.size();
  py::gil_scoped_release nogil;
  cpu::gaussian_noise(dt, px, py_, n, seed, offset, mean, std, multiplicative);
}

}  // namespace

void bind_dropout_cpu(py::module_& m) {
  m.def("dropout_forward", &forward, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("bits"),
        py::arg("bytes"), py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"),
        py::arg("scale"));

  m.def("dropout_backward", &backward, py::arg("dy").noconvert(), py::arg("dx").noconvert(), py::arg("bits"),
        py::arg("bytes"), py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"),
        py::arg("scale"));

  m.def("bias_act_dropout_forward", &ba_forward, py::arg("x").noconvert(), py::arg("bias").noconvert(),
        py::arg("residual"), py::arg("y").noconvert(), py::arg("bits"), py::arg("bytes"), py::arg("activation"),
        py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"), py::arg("scale"));

  m.def("bias_act_dropout_backward", &ba_backward, py::arg("dy").noconvert(), py::arg("x").noconvert(),
        py::arg("bias").noconvert(), py::arg("bits"), py::arg("bytes"), py::arg("dx").noconvert(),
        py::arg("dbias").noconvert(), py::arg("activation"), py::arg("seed"), py::arg("offset"),
        py::arg("threshold"), py::arg("drop_all"), py::arg("scale"));

  m.def("gaussian_noise", &noise, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("seed"),
        py::arg("offset"), py::arg("mean"), py::arg("std"), py::arg("multiplicative"));
}

}}  // namespace regcore::bindings
