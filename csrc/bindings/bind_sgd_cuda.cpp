// Penalized SGD for CUDA device views: every view checked before any launch (a multi-tensor step
// is all or nothing), GIL released. No math here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "../core/sgd_params.h"
#include "sgd_lists.h"
#include "../cuda/launch.h"
#include "../cuda/sgd_api.h"
#include "device_view.h"

namespace regcore { namespace bindings {

namespace {

const DeviceView& as_view(py::handle h, const std::string& name) {
  try {
    return h.cast<const DeviceView&>();
  } catch (const py::cast_error&) {
    throw py::type_error(name + ": expected a CUDA device view");
  }
}

}  // namespace

void bind_sgd_cuda(py::module_& m) {
  m.def("sgd_step_multi", [](py::list ws, py::list gs, py::list bs, std::vector<bool> firsts,
                             std::vector<std::tuple<int64_t, int64_t, int64_t>> geoms, double lr,
                             double momentum, double damp_keep, double wd, double decay_keep,
                             double l1, double l1_thr, uint32_t flags, double max_norm, py::object masters,
                             std::vector<uint64_t> sr_offsets, uint64_t seed) {
    const size_t count = ws.size();
    check_list_lengths(count, gs.size(), bs.size(), firsts.size(), geoms.size());
    const py::list ms = checked_masters(masters, sr_offsets, count, flags);
    std::vector<SgdTensor> ts(count);
    int device = 0;
    uintptr_t stream = 1;
    for (size_t i = 0; i < count; ++i) {
      const std::string wn = item_name("params", i), gn = item_name("grads", i),
                        bn = item_name("momentum_bufs", i), mn = item_name("masters", i);
      const DeviceView& w = as_view(ws[i], wn);
      const DeviceView& g = as_view(gs[i], gn);
      const bool has_b = !bs[i].is_none();
      const DType dt = float_dtype(w, wn.c_str());
      check_view(w, dt, true, wn.c_str());
      check_view(g, dt, false, gn.c_str());
      if (g.size() != w.size() || g.device_id != w.device_id)
        throw py::value_error(gn + ": expected the size and device of " + wn);
      SgdTensor& s = ts[i];
      s.b = nullptr;
      if (has_b) {
        const DeviceView& b = as_view(bs[i], bn);
        check_view(b, compute_dtype(dt), true, bn.c_str());   // 16-bit parameters: a float32 buffer
        if (b.size() != w.size() || b.device_id != w.device_id)
          throw py::value_error(bn + ": expected the size and device of " + wn);
        s.b = b.data;
      }
      if ((flags & kSgdMomentum) && !has_b) throw py::value_error(bn + ": expected a buffer");
      if (i == 0) { device = w.device_id; stream = w.stream; }
      else if (w.device_id != device) throw py::value_error(wn + ": expected the device of params[0]");
      s.w = w.data;
      s.g = g.data;
      s.n = w.size();
      s.dtype = dt;
      if (!ms[i].is_none()) {   // a float32 master: the step updates it, w receives its rounding
        const DeviceView& m = as_view(ms[i], mn);
        if (dt != DType::bf16 && dt != DType::f16) throw py::type_error(mn + ": a master copy is only for 16-bit " + wn);
        check_view(m, DType::f32, true, mn.c_str());
        if (m.size() != w.size() || m.device_id != w.device_id)
          throw py::value_error(mn + ": expected the size and device of " + wn);
        if (flags & kSgdStochastic) throw py::value_error(wn + ": stochastic rounding is for 16-bit parameters without a master copy");
        s.w = m.data;
        s.dtype = DType::f32;
        s.half_out = w.data;
        s.half_dtype = dt;
      }
      if (flags & kSgdStochastic) s.sr_offset = sr_offsets[i];
      s.first = firsts[i];
      std::tie(s.outer, s.rows, s.inner) = geoms[i];
      if (s.rows > 0 && s.outer * s.rows * s.inner != s.n)
        throw py::value_error(wn + ": max-norm geometry does not match the size");
    }
    const SgdHyper h{lr, momentum, damp_keep, wd, decay_keep, l1, l1_thr, flags, max_norm, seed};
    if (count == 0) return;
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(device);
    cuda::sgd_step_multi(ts.data(), count, h, stream);
  }, py::arg("params"), py::arg("grads"), py::arg("momentum_bufs"), py::arg("firsts"), py::arg("geoms"),
     py::arg("lr"), py::arg("momentum"), py::arg("damp_keep"), py::arg("wd"), py::arg("decay_keep"), py::arg("l1"),
     py::arg("l1_thr"), py::arg("flags"), py::arg("max_norm"), py::arg("masters") = py::none(),
     py::arg("sr_offsets") = std::vector<uint64_t>{}, py::arg("seed") = 0);

  m.def("penalty_sums", [](py::list xs) {
    const size_t count = xs.size();
    std::vector<PenaltyTensor> ts(count);
    int device = 0;
    uintptr_t stream = 1;
    for (size_t i = 0; i < count; ++i) {
      const std::string name = item_name("params", i);
      const DeviceView& x = as_view(xs[i], name);
      const DType dt = float_dtype(x, name.c_str());
      check_view(x, dt, false, name.c_str());
      if (i == 0) { device = x.device_id; stream = x.stream; }
      else if (x.device_id != device) throw py::value_error(name + ": expected the device of params[0]");
      ts[i] = {x.data, x.size(), dt};
    }
    double a = 0, s = 0;
    if (count > 0) {
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(device);
      cuda::penalty_sums(ts.data(), count, a, s, stream);
    }
    return py::make_tuple(a, s);
  });
}

}}  // namespace regcore::bindings
