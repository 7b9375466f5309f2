// The CUDA module's benchmark registry (csrc/bench/cuda/): same functions as the CPU module's,
// timed with CUDA events on the case's own stream. threads and isa are accepted and ignored so
// that regcore.bench drives both modules alike.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "../cuda/launch.h"
#include "bench_common.h"

namespace regcore { namespace bindings {

namespace py = pybind11;

void bind_bench_cuda(py::module_& m) {
  bench_py::bind_listing(m);
  m.def("bench_run", [](const std::string& name, const std::string& dtype, int64_t n, int /*threads*/,
                        const std::string& /*isa*/, int warmup, int repeats, double min_sample_s,
                        int device) {
    const bench::CaseSpec& c = bench_py::find(name, dtype);
    const bench::TimerOptions opt = bench_py::timer_options(warmup, repeats, min_sample_s);
    bench::Timing t;
    try {
      py::gil_scoped_release nogil;
      bench::check_options(n, opt);
      cuda::DeviceGuard guard(device);
      t.min_bytes = c.min_bytes(n);
      t.state_bytes = c.state_bytes(n);
      std::unique_ptr<bench::CaseRun> r = c.setup(n);
      bench::measure(*r, opt, t);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
    return bench_py::timing(c, n, t);
  }, py::arg("name"), py::arg("dtype"), py::arg("n"), py::arg("threads") = 0, py::arg("isa") = "",
     py::arg("warmup") = 2, py::arg("repeats") = 7, py::arg("min_sample_s") = 2e-3,
     py::arg("device") = 0,
     "Time one CUDA case with CUDA events on `device`: per-call seconds of each repeat, median, "
     "min, max.");
}

}}  // namespace regcore::bindings
