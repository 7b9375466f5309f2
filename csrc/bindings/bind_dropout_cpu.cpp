// Dropout-family kernels for NumPy arrays: dtype switch, pointer extraction, GIL release. No
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

template <class T>
void forward(py::array x, py::array y, py::object bits, py::object bytes, uint64_t seed,
             uint64_t offset, uint32_t t, bool drop_all, double scale) {
  const T* px = in_ptr<T>(x, "x");
  T* py_ = out_ptr<T>(y, "y");
  check_same_size(x, y, "y");
  const int64_t n = x.size();
  check_mask_size(bits, bytes, n);
  uint32_t* pb = opt_out<uint32_t>(bits, "bits");
  uint8_t* pB = opt_out<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::dropout_forward<T>(px, py_, pb, pB, n, rule, T(scale));
}

template <class T>
void backward(py::array dy, py::array dx, py::object bits, py::object bytes, uint64_t seed,
              uint64_t offset, uint32_t t, bool drop_all, double scale) {
  const T* pdy = in_ptr<T>(dy, "dy");
  T* pdx = out_ptr<T>(dx, "dx");
  check_same_size(dy, dx, "dx");
  const int64_t n = dy.size();
  check_mask_size(bits, bytes, n);
  const uint32_t* pb = opt_in<uint32_t>(bits, "bits");
  const uint8_t* pB = opt_in<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::dropout_backward<T>(pdy, pdx, pb, pB, n, rule, T(scale));
}

void check_cols(const py::array& x, const py::array& bias) {
  const int64_t cols = bias.size();
  if (x.size() > 0 && (cols == 0 || x.size() % cols != 0))
    throw py::value_error("bias: length must divide the size of x");
}

template <class T>
void ba_forward(py::array x, py::array bias, py::object residual, py::array y, py::object bits,
                py::object bytes, int act, uint64_t seed, uint64_t offset, uint32_t t,
                bool drop_all, double scale) {
  const T* px = in_ptr<T>(x, "x");
  const T* pbias = in_ptr<T>(bias, "bias");
  const T* pres = opt_in<T>(residual, "residual");
  if (!residual.is_none()) check_same_size(x, py::reinterpret_borrow<py::array>(residual), "residual");
  T* py_ = out_ptr<T>(y, "y");
  check_same_size(x, y, "y");
  check_cols(x, bias);
  const int64_t n = x.size(), cols = bias.size();
  check_mask_size(bits, bytes, n);
  uint32_t* pb = opt_out<uint32_t>(bits, "bits");
  uint8_t* pB = opt_out<uint8_t>(bytes, "bytes");
  const auto rule = make_rule(seed, offset, t, drop_all);
  py::gil_scoped_release nogil;
  cpu::bias_act_forward<T>(px, pbias, pres, py_, pb, pB, n, cols, act, rule, T(scale));
}

template <class T>
void ba_backward(py::array dy, py::array x, py::array bias, py::object bits, py::object bytes,
                 py::array dx, py::array dbias, int act, uint64_t seed, uint64_t offset,
                 uint32_t t, bool drop_all, double scale) {
  const T* pdy = in_ptr<T>(dy, "dy");
  const T* px = in_ptr<T>(x, "x");
  const T* pbias = in_ptr<T>(bias, "bias");
  T* pdx = out_ptr<T>(dx, "dx");
  T* pdb = out_ptr<T>(dbias, "dbias");
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
  cpu::bias_act_backward<T>(pdy, px, pbias, pb, pB, pdx, pdb, n, cols, act, rule, T(scale));
}

template <class T>
void noise(py::array x, py::array y, uint64_t seed, uint64_t offset, double mean, double std,
           bool multiplicative) {
  const T* px = in_ptr<T>(x, "x");
  T* py_ = out_ptr<T>(y, "y");
  check_same_size(x, y, "y");
  if (px == py_ && x.size() > 0) throw py::value_error("y: must not be x (the noise is drawn into y)");
  const int64_t n = x.size();
  py::gil_scoped_release nogil;
  cpu::gaussian_noise<T>(px, py_, n, seed, offset, T(mean), T(std), multiplicative);
}

// One Python name per kernel; the dtype of the first array picks float or double.
template <class F32, class F64, class... A>
void by_dtype(const py::array& first, const char* name, F32 f32, F64 f64, A&&... args) {
  if (is_dtype<float>(first)) f32(std::forward<A>(args)...);
  else if (is_dtype<double>(first)) f64(std::forward<A>(args)...);
  else unsupported_dtype(first, name);
}

}  // namespace

void bind_dropout_cpu(py::module_& m) {
  m.def("dropout_forward", [](py::array x, py::array y, py::object bits, py::object bytes,
                              uint64_t seed, uint64_t offset, uint32_t t, bool drop_all, double scale) {
    by_dtype(x, "x", forward<float>, forward<double>, x, y, bits, bytes, seed, offset, t, drop_all, scale);
  }, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("bits"), py::arg("bytes"),
     py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"), py::arg("scale"));

  m.def("dropout_backward", [](py::array dy, py::array dx, py::object bits, py::object bytes,
                               uint64_t seed, uint64_t offset, uint32_t t, bool drop_all, double scale) {
    by_dtype(dy, "dy", backward<float>, backward<double>, dy, dx, bits, bytes, seed, offset, t, drop_all, scale);
  }, py::arg("dy").noconvert(), py::arg("dx").noconvert(), py::arg("bits"), py::arg("bytes"),
     py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"), py::arg("scale"));

  m.def("bias_act_dropout_forward", [](py::array x, py::array bias, py::object residual, py::array y,
                                       py::object bits, py::object bytes, int act, uint64_t seed,
                                       uint64_t offset, uint32_t t, bool drop_all, double scale) {
    by_dtype(x, "x", ba_forward<float>, ba_forward<double>, x, bias, residual, y, bits, bytes, act,
             seed, offset, t, drop_all, scale);
  }, py::arg("x").noconvert(), py::arg("bias").noconvert(), py::arg("residual"), py::arg("y").noconvert(),
     py::arg("bits"), py::arg("bytes"), py::arg("activation"), py::arg("seed"), py::arg("offset"),
     py::arg("threshold"), py::arg("drop_all"), py::arg("scale"));

  m.def("bias_act_dropout_backward", [](py::array dy, py::array x, py::array bias, py::object bits,
                                        py::object bytes, py::array dx, py::array dbias, int act,
                                        uint64_t seed, uint64_t offset, uint32_t t, bool drop_all,
                                        double scale) {
    by_dtype(x, "x", ba_backward<float>, ba_backward<double>, dy, x, bias, bits, bytes, dx, dbias, act,
             seed, offset, t, drop_all, scale);
  }, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("bias").noconvert(), py::arg("bits"),
     py::arg("bytes"), py::arg("dx").noconvert(), py::arg("dbias").noconvert(), py::arg("activation"),
     py::arg("seed"), py::arg("offset"), py::arg("threshold"), py::arg("drop_all"), py::arg("scale"));

  m.def("gaussian_noise", [](py::array x, py::array y, uint64_t seed, uint64_t offset, double mean,
                             double std, bool multiplicative) {
    by_dtype(x, "x", noise<float>, noise<double>, x, y, seed, offset, mean, std, multiplicative);
  }, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("seed"), py::arg("offset"),
     py::arg("mean"), py::arg("std"), py::arg("multiplicative"));
}

}}  // namespace regcore::bindings
