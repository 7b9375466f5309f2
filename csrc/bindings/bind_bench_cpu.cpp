// The native benchmark registry for Python (regcore.bench): list the cases compiled into this
// module and time one. The timing itself happens in C++ (csrc/bench/timer.h), without the GIL.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "bench_common.h"

namespace regcore { namespace bindings {

namespace py = pybind11;

void bind_bench_cpu(py::module_& m) {
  bench_py::bind_listing(m);
  m.def("bench_run", [](const std::string& name, const std::string& dtype, int64_t n, int threads,
                        const std::string& isa, int warmup, int repeats, double min_sample_s) {
    const bench::CaseSpec& c = bench_py::find(name, dtype);
    const bench::TimerOptions opt = bench_py::timer_options(warmup, repeats, min_sample_s);
    bench::Timing t;
    try {
      py::gil_scoped_release nogil;
      t = bench::time_case(c, n, threads, isa, opt);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
    return bench_py::timing(c, n, t);
  }, py::arg("name"), py::arg("dtype"), py::arg("n"), py::arg("threads") = 0, py::arg("isa") = "",
     py::arg("warmup") = 2, py::arg("repeats") = 7, py::arg("min_sample_s") = 2e-3,
     "Time one case natively: per-call seconds of each repeat, median, min, max. threads=0 and "
     "isa='' keep the current settings; both are restored afterwards.");
}

}}  // namespace regcore::bindings
