// The native benchmark registry for Python (regcore.bench): list the cases compiled into this
// module and time one. The timing itself happens in C++ (csrc/bench/timer.h), without the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "../bench/bench_case.h"
#include "../bench/timer.h"

namespace regcore { namespace bindings {

namespace py = pybind11;

namespace {

py::dict describe(const bench::CaseSpec& c) {
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
  return d;
}

}  // namespace

void bind_bench_cpu(py::module_& m) {
  m.def("bench_cases", [] {
    py::list out;
    for (const bench::CaseSpec& c : bench::registry()) out.append(describe(c));
    return out;
  }, "Every native benchmark case compiled into this module, in registration order.");

  m.def("bench_bytes", [](const std::string& name, const std::string& dtype, int64_t n) {
    const bench::CaseSpec* c = bench::find_case(name, dtype);
    if (!c) throw py::value_error("name: no benchmark case '" + name + "' for dtype " + dtype);
    return py::make_tuple(c->min_bytes(n), c->state_bytes(n));
  }, py::arg("name"), py::arg("dtype"), py::arg("n"),
     "(minimum bytes moved, bytes of state kept for backward) of a case at n elements.");

  m.def("bench_run", [](const std::string& name, const std::string& dtype, int64_t n, int threads,
                        const std::string& isa, int warmup, int repeats, double min_sample_s) {
    const bench::CaseSpec* c = bench::find_case(name, dtype);
    if (!c) throw py::value_error("name: no benchmark case '" + name + "' for dtype " + dtype);
    bench::TimerOptions opt;
    opt.warmup = warmup;
    opt.repeats = repeats;
    opt.min_sample_s = min_sample_s;
    bench::Timing t;
    try {
      py::gil_scoped_release nogil;
      t = bench::time_case(*c, n, threads, isa, opt);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
    py::dict d = describe(*c);
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
  }, py::arg("name"), py::arg("dtype"), py::arg("n"), py::arg("threads") = 0, py::arg("isa") = "",
     py::arg("warmup") = 2, py::arg("repeats") = 7, py::arg("min_sample_s") = 2e-3,
     "Time one case natively: per-call seconds of each repeat, median, min, max. threads=0 and "
     "isa='' keep the current settings; both are restored afterwards.");
}

}}  // namespace regcore::bindings
