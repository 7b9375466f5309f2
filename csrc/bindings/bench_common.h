// Shared by the CPU and CUDA modules' benchmark bindings: a case and a timing as Python dicts.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "../bench/bench_case.h"
#include "../bench/timer.h"

namespace regcore { namespace bindings { namespace bench_py {

namespace py = pybind11;

inline py::dict describe(const bench::CaseSpec& c) {
  py::dict d;
  d["id"] = c.id();
  d["name"] = c.name();
  d["family"] = c.family;
  d["kernel"] = c.kernel;
  d["dtype"] = c.dtype;
  d["backend"] = c.backend;
  d["uses_isa"] = c.uses_isa;
  d["bytes_formula"] = c.bytes_formula;
  d["state_formula"] = c.state_formula;
  d["items"] = c.items;
  d["sizes"] = c.sizes;
  d["quick_sizes"] = c.quick_sizes;
  d["shape"] = c.shape;
  return d;
}

inline bench::TimerOptions timer_options(int warmup, int repeats, double min_sample_s) {
  bench::TimerOptions opt;
  opt.warmup = warmup;
  opt.repeats = repeats;
  opt.min_sample_s = min_sample_s;
  return opt;
}

inline const bench::CaseSpec& find(const std::string& name, const std::string& dtype) {
  const bench::CaseSpec* c = bench::find_case(name, dtype);
  if (!c) throw py::value_error("name: no benchmark case '" + name + "' for dtype " + dtype);
  return *c;
}

inline py::dict timing(const bench::CaseSpec& c, int64_t n, const bench::Timing& t) {
  py::dict d = describe(c);
  d["n"] = n;
  d["threads"] = t.threads;
  d["isa"] = t.isa;
  d["times_s"] = t.per_call_s;
  d["median_s"] = t.median_s;
  d["min_s"] = t.min_s;
  d["max_s"] = t.max_s;
  d["inner"] = t.inner;
  d["min_bytes"] = t.min_bytes;
  d["state_bytes"] = t.state_bytes;
  return d;
}

// bench_cases() and bench_bytes(): identical in every module, over that module's own registry.
inline void bind_listing(py::module_& m) {
  m.def("bench_cases", [] {
    py::list out;
    for (const bench::CaseSpec& c : bench::registry()) out.append(describe(c));
    return out;
  }, "Every native benchmark case compiled into this module, in registration order.");
  m.def("bench_bytes", [](const std::string& name, const std::string& dtype, int64_t n) {
    const bench::CaseSpec& c = find(name, dtype);
    return py::make_tuple(c.min_bytes(n), c.state_bytes(n));
  }, py::arg("name"), py::arg("dtype"), py::arg("n"),
     "(minimum bytes moved, bytes of state kept for backward) of a case at n elements.");
}

}}}  // namespace regcore::bindings::bench_py
