// Dropout-family kernels for CUDA device views: dtype tag, pointer extraction, GIL release.
// No math. Optional masks arrive as None or device views (uint32 bit words / uint8 bytes).
#include <pybind11/pybind11.h>

#include "../cuda/dropout_api.h"
#include "../cuda/launch.h"
#include "device_view.h"

namespace regcore { namespace bindings {

namespace {

const DeviceView* opt_view(const py::object& o, const char* dtype, bool writeable, const char* name) {
  if (o.is_none()) return nullptr;
  const DeviceView& v = o.cast<const DeviceView&>();
  check_view(v, dtype, writeable, name);
  return &v;
}
template <class T> T* opt_ptr(const DeviceView* v) { return v ? v->ptr<T>() : nullptr; }
const DeviceView* opt_view(const py::object& o, DType dt, bool writeable, const char* name) {
  if (o.is_none()) return nullptr;
  const DeviceView& v = o.cast<const DeviceView&>();
  check_view(v, dt, writeable, name);
  return &v;
}

void check_size(const DeviceView& a, const DeviceView& b, const char* name) {
  if (a.size() != b.size()) throw py::value_error(std::string(name) + ": size differs from the input");
}
void check_masks(const DeviceView* bits, const DeviceView* bytes, int64_t n) {
  if (bits && bits->size() < (n + 31) / 32) throw py::value_error("bits: mask too small for the data");
  if (bytes && bytes->size() < n) throw py::value_error("bytes: mask too small for the data");
}
cuda::DropoutRule rule(uint64_t seed, uint64_t offset, uint32_t t, bool drop_all) {
  return cuda::DropoutRule{seed, offset, t, drop_all ? 1u : 0u};
}

}  // namespace

void bind_dropout_cuda(py::module_& m) {
  m.def("dropout_forward", [](const DeviceView& x, const DeviceView& y, py::object bits, py::object bytes,
                              uint64_t seed, uint64_t offset, uint32_t t, bool drop_all, double scale) {
    const DType dt = float_dtype(x, "x");
    check_view(x, dt, false, "x");
    check_view(y, dt, true, "y");
    check_size(x, y, "y");
    const DeviceView* vb = opt_view(bits, "uint32", true, "bits");
    const DeviceView* vB = opt_view(bytes, "uint8", true, "bytes");
    check_masks(vb, vB, x.size());
    const auto r = rule(seed, offset, t, drop_all);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    cuda::dropout_forward(dt, x.data, y.data, opt_ptr<uint32_t>(vb), opt_ptr<uint8_t>(vB), x.size(), r, scale, x.stream);
  });

  m.def("dropout_backward", [](const DeviceView& dy, const DeviceView& dx, py::object bits, py::object bytes,
                               uint64_t seed, uint64_t offset, uint32_t t, bool drop_all, double scale) {
    const DType dt = float_dtype(dy, "dy");
    check_view(dy, dt, false, "dy");
    check_view(dx, dt, true, "dx");
    check_size(dy, dx, "dx");
    const DeviceView* vb = opt_view(bits, "uint32", false, "bits");
    const DeviceView* vB = opt_view(bytes, "uint8", false, "bytes");
    check_masks(vb, vB, dy.size());
    const auto r = rule(seed, offset, t, drop_all);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(dy.device_id);
    cuda::dropout_backward(dt, dy.data, dx.data, opt_ptr<uint32_t>(vb), opt_ptr<uint8_t>(vB), dy.size(), r, scale,
                           dy.stream);
  });

  m.def("bias_act_dropout_forward", [](const DeviceView& x, const DeviceView& bias, py::object residual,
                                       const DeviceView& y, py::object bits, py::object bytes, int act,
                                       uint64_t seed, uint64_t offset, uint32_t t, bool drop_all, double scale) {
    const DType dt = float_dtype(x, "x");
    check_view(x, dt, false, "x");
    check_view(bias, dt, false, "bias");
    check_view(y, dt, true, "y");
    check_size(x, y, "y");
    const DeviceView* vr = opt_view(residual, dt, false, "residual");
    if (vr) check_size(x, *vr, "residual");
    const int64_t n = x.size(), cols = bias.size();
    if (n > 0 && (cols == 0 || n % cols != 0)) throw py::value_error("bias: length must divide the size of x");
    const DeviceView* vb = opt_view(bits, "uint32", true, "bits");
    const DeviceView* vB = opt_view(bytes, "uint8", true, "bytes");
    check_masks(vb, vB, n);
    const auto r = rule(seed, offset, t, drop_all);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    cuda::bias_act_forward(dt, x.data, bias.data, vr ? vr->data : nullptr, y.data, opt_ptr<uint32_t>(vb),
                           opt_ptr<uint8_t>(vB), n, cols, act, r, scale, x.stream);
  });

  m.def("bias_act_dropout_backward", [](const DeviceView& dy, const DeviceView& x, const DeviceView& bias,
                                        py::object bits, py::object bytes, const DeviceView& dx,
                                        const DeviceView& dbias, int act, uint64_t seed, uint64_t offset,
                                        uint32_t t, bool drop_all, double scale) {
    const DType dt = float_dtype(x, "x");
    check_view(dy, dt, false, "dy");
    check_view(x, dt, false, "x");
    check_view(bias, dt, false, "bias");
    check_view(dx, dt, true, "dx");
    check_view(dbias, dt, true, "dbias");
    check_size(x, dy, "dy");
    check_size(x, dx, "dx");
    check_size(bias, dbias, "dbias");
    const int64_t n = x.size(), cols = bias.size();
    if (n > 0 && (cols == 0 || n % cols != 0)) throw py::value_error("bias: length must divide the size of x");
    const DeviceView* vb = opt_view(bits, "uint32", false, "bits");
    const DeviceView* vB = opt_view(bytes, "uint8", false, "bytes");
    check_masks(vb, vB, n);
    const auto r = rule(seed, offset, t, drop_all);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    cuda::bias_act_backward(dt, dy.data, x.data, bias.data, opt_ptr<uint32_t>(vb), opt_ptr<uint8_t>(vB), dx.data,
                            dbias.data, n, cols, act, r, scale, x.stream);
  });

  m.def("gaussian_noise", [](const DeviceView& x, const DeviceView& y, uint64_t seed, uint64_t offset,
                             double mean, double std, bool multiplicative) {
    const DType dt = float_dtype(x, "x");
    check_view(x, dt, false, "x");
    check_view(y, dt, true, "y");
    check_size(x, y, "y");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    cuda::gaussian_noise(dt, x.data, y.data, x.size(), seed, offset, mean, std, multiplicative, x.stream);
  });
}

}}  // namespace regcore::bindings
