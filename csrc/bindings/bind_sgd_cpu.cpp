// Penalized SGD for NumPy arrays: lists of arrays -> a table of raw pointers and dtype tags, every array checked
// before any kernel runs (a multi-tensor step is all or nothing), GIL released. No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "../core/sgd_params.h"
#include "sgd_lists.h"
#include "../cpu/sgd_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

namespace {

py::array as_array(py::handle h, const std::string& name) {
  if (!py::isinstance<py::array>(h)) throw py::type_error(name + ": expected a NumPy array");
  return py::reinterpret_borrow<py::array>(h);
}

// 16-bit parameters keep a float32 momentum buffer (their arithmetic type); with a float32 master
// the step updates the master and rounds it into the parameters (core/sgd_params.h).
void fill_tensor(cpu::SgdTensor& s, py::array& w, py::array& g, py::array* b, py::array* m, const std::string& wn,
                 const std::string& gn, const std::string& bn, const std::string& mn) {
  const DType dt = float_dtype(w, wn.c_str());
  void* wp = out_ptr(w, dt, wn.c_str());
  s.g = in_ptr(g, dt, gn.c_str());
  s.b = b ? out_ptr(*b, compute_dtype(dt), bn.c_str()) : nullptr;
  if (m) {
    if (dt != DType::bf16 && dt != DType::f16) throw py::type_error(mn + ": a master copy is only for 16-bit " + wn);
    s.w = out_ptr(*m, DType::f32, mn.c_str());
    s.dtype = DType::f32;
    s.half_out = wp;
    s.half_dtype = dt;
  } else {
    s.w = wp;
    s.dtype = dt;
  }
}

}  // namespace

void bind_sgd_cpu(py::module_& m) {
  m.def("sgd_step_multi", [](py::list ws, py::list gs, py::list bs, std::vector<bool> firsts,
                             std::vector<std::tuple<int64_t, int64_t, int64_t>> geoms, double lr,
                             double momentum, double damp_keep, double wd, double decay_keep,
                             double l1, double l1_thr, uint32_t flags, double max_norm, py::object masters,
                             std::vector<uint64_t> sr_offsets, uint64_t seed) {
    const size_t count = ws.size();
    check_list_lengths(count, gs.size(), bs.size(), firsts.size(), geoms.size());
    const py::list ms = checked_masters(masters, sr_offsets, count, flags);
    std::vector<py::array> keep;
    keep.reserve(4 * count);
    std::vector<cpu::SgdTensor> ts(count);
    for (size_t i = 0; i < count; ++i) {
      const std::string wn = item_name("params", i), gn = item_name("grads", i),
                        bn = item_name("momentum_bufs", i), mn = item_name("masters", i);
      py::array w = as_array(ws[i], wn), g = as_array(gs[i], gn);
      const bool has_b = !bs[i].is_none(), has_m = !ms[i].is_none();
      py::array b = has_b ? as_array(bs[i], bn) : py::array();
      py::array m = has_m ? as_array(ms[i], mn) : py::array();
      if (g.size() != w.size() || (has_b && b.size() != w.size()) || (has_m && m.size() != w.size()))
        throw py::value_error(gn + ": expected as many elements as " + wn);
      if (!g.dtype().is(w.dtype())) throw py::type_error(gn + ": expected the dtype of " + wn);
      cpu::SgdTensor& s = ts[i];
      fill_tensor(s, w, g, has_b ? &b : nullptr, has_m ? &m : nullptr, wn, gn, bn, mn);
      if (flags & kSgdStochastic) {
        // float32/float64 tensors of the call ignore the flag (an optimizer rounds its 16-bit ones)
        if (has_m) throw py::value_error(wn + ": stochastic rounding is for 16-bit parameters without a master copy");
        s.sr_offset = sr_offsets[i];
      }
      s.n = w.size();
      s.first = firsts[i];
      std::tie(s.outer, s.rows, s.inner) = geoms[i];
      if (s.rows > 0 && s.outer * s.rows * s.inner != s.n)
        throw py::value_error(wn + ": max-norm geometry does not match the size");
      if ((flags & kSgdMomentum) && !has_b) throw py::value_error(bn + ": expected a buffer");
      keep.push_back(w); keep.push_back(g); keep.push_back(b); keep.push_back(m);
    }
    const cpu::SgdHyper h{lr, momentum, damp_keep, wd, decay_keep, l1, l1_thr, flags, max_norm, seed};
    py::gil_scoped_release nogil;
    cpu::sgd_step_multi(ts.data(), count, h);
  }, py::arg("params"), py::arg("grads"), py::arg("momentum_bufs"), py::arg("firsts"),
     py::arg("geoms"), py::arg("lr"), py::arg("momentum"), py::arg("damp_keep"), py::arg("wd"),
     py::arg("decay_keep"), py::arg("l1"), py::arg("l1_thr"), py::arg("flags"), py::arg("max_norm"),
     py::arg("masters") = py::none(), py::arg("sr_offsets") = std::vector<uint64_t>{}, py::arg("seed") = 0);

  // True when no two of the arrays' byte ranges overlap (zero-size arrays own no bytes). The
  // Python fast path of a step asks this once for all parameters and buffers instead of
  // building an __array_interface__ dict per array (about 1.5 us each: 0.6 ms for 200 tensors);
  // on False it falls back to the per-array checks, which name the offending tensors.
  m.def("sgd_disjoint", [](py::list xs) {
    std::vector<std::pair<uintptr_t, uintptr_t>> r;
    r.reserve(xs.size());
    for (py::handle h : xs) {
      py::array x = as_array(h, "arrays");
      if (x.nbytes() == 0) continue;
      const uintptr_t p = reinterpret_cast<uintptr_t>(x.data());
      r.emplace_back(p, p + uintptr_t(x.nbytes()));
    }
    std::sort(r.begin(), r.end());
    for (size_t i = 1; i < r.size(); ++i)
      if (r[i].first < r[i - 1].second) return false;
    return true;
  }, py::arg("arrays"));

  m.def("penalty_sums", [](py::list xs) {
    const size_t count = xs.size();
    std::vector<py::array> keep;
    std::vector<cpu::PenaltyTensor> ts(count);
    for (size_t i = 0; i < count; ++i) {
      const std::string name = item_name("params", i);
      py::array x = as_array(xs[i], name);
      const DType dt = float_dtype(x, name.c_str());
      ts[i] = {in_ptr(x, dt, name.c_str()), int64_t(x.size()), dt};
      keep.push_back(x);
    }
    double a = 0, s = 0;
    {
      py::gil_scoped_release nogil;
      cpu::penalty_sums(ts.data(), count, a, s);
    }
    return py::make_tuple(a, s);
  }, py::arg("params"));
}

}}  // namespace regcore::bindings
