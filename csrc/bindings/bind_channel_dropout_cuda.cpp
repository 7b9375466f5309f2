// Channel (spatial) and alpha dropout for CUDA device views: dtype tag, pointer extraction, GIL
// release. No math. Keep-word masks arrive as None or uint32 device views.
#include <pybind11/pybind11.h>

#include "../cuda/channel_dropout_api.h"
#include "../cuda/launch.h"
#include "device_view.h"

namespace regcore { namespace bindings {

namespace {

const DeviceView* words_view(const py::object& o, bool writeable, int64_t decisions, const char* name) {
  if (o.is_none()) return nullptr;
  const DeviceView& v = o.cast<const DeviceView&>();
  check_view(v, "uint32", writeable, name);
  if (v.size() < (decisions + 31) / 32) throw py::value_error(std::string(name) + ": mask too small for the data");
  return &v;
}
template <class T> T* ptr_or_null(const DeviceView* v) { return v ? v->ptr<T>() : nullptr; }

}  // namespace

void bind_channel_dropout_cuda(py::module_& m) {
  m.def("channel_dropout", [](const DeviceView& x, const DeviceView& y, py::object keep_in, py::object keep_out,
                              int64_t batch, int64_t channels, int64_t spatial, bool channels_last, uint64_t seed,
                              uint64_t offset, uint32_t t, bool drop_all, double scale, double shift, double dropped,
                              bool affine) {
    const DType dt = float_dtype(x, "x");
    check_view(x, dt, false, "x");
    check_view(y, dt, true, "y");
    if (batch < 0 || channels < 0 || spatial < 0 || x.size() != batch * channels * spatial || y.size() != x.size())
      throw py::value_error("x: size differs from batch * channels * spatial");
    const int64_t decisions = batch * channels;
    const DeviceView* kin = words_view(keep_in, false, decisions, "keep_in");
    const DeviceView* kout = words_view(keep_out, true, decisions, "keep_out");
    const cuda::DropoutRule r{seed, offset, t, drop_all ? 1u : 0u};
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    cuda::channel_dropout(dt, x.data, y.data, ptr_or_null<const uint32_t>(kin), ptr_or_null<uint32_t>(kout), batch,
                          channels, spatial, channels_last, r, scale, shift, dropped, affine, x.stream);
  });

  m.def("alpha_dropout_forward", [](const DeviceView& x, const DeviceView& y, py::object bits, uint64_t seed,
                                    uint64_t offset, uint32_t t, bool drop_all, double scale, double shift,
                                    double dropped) {
    const DType dt = float_dtype(x, "x");
    check_view(x, dt, false, "x");
    check_view(y, dt, true, "y");
    if (y.size() != x.size()) throw py::value_error("y: size differs from the input");
    const DeviceView* vb = words_view(bits, true, x.size(), "bits");
    const cuda::DropoutRule r{seed, offset, t, drop_all ? 1u : 0u};
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    cuda::alpha_dropout_forward(dt, x.data, y.data, ptr_or_null<uint32_t>(vb), x.size(), r, scale, shift, dropped,
                                x.stream);
  });
}

}}  // namespace regcore::bindings
