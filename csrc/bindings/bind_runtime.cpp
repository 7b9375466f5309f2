// Build facts and run-time switches of the CPU module: ISA level, thread count.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "../cpu/dispatch.h"
#include "../cpu/parallel.h"
#include "../cpu/thread_pool.h"

namespace regcore { namespace bindings {

namespace py = pybind11;
using cpu::Isa;

void bind_runtime(py::module_& m) {
  m.def("compiled_isas", [] {
    py::list out;
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
      if (cpu::isa_compiled(i)) out.append(cpu::isa_name(i));
    return out;
  });
  m.def("supported_isas", [] {
    py::list out;
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
      if (cpu::isa_supported(i)) out.append(cpu::isa_name(i));
    return out;
  });
  m.def("best_isa", [] { return std::string(cpu::isa_name(cpu::best_isa())); });
  m.def("active_isa", [] { return std::string(cpu::isa_name(cpu::active_isa())); });
  m.def("set_isa", [](const std::string& name) {
    try {
      cpu::set_active_isa(cpu::isa_from_name(name));
    } catch (const std::invalid_argument& e) {
      throw py::value_error(std::string("level: ") + e.what());
    }
  });
  // Thread pool (csrc/cpu/thread_pool.h): one process-wide setting.
  // AVX512_BF16 for the batch-norm bfloat16 stores (same bits on or off; off lets the tests run
  // the other path on processors that have it).
  m.def("avx512_bf16_supported", &cpu::avx512_bf16_supported);
  m.def("avx512_bf16_active", &cpu::avx512_bf16_active);
  m.def("set_avx512_bf16", [](bool on) {
    try {
      cpu::set_avx512_bf16(on);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  });
  m.def("max_threads", &cpu::pool_threads);
  m.def("thread_limit", &cpu::pool_thread_limit);
  m.def("usable_cpus", &cpu::usable_cpus);
  m.def("workers_started", &cpu::pool_workers_started);
  m.def("set_threads", [](long long n) {
    // long long: a too large Python int arrives here, or is refused by pybind11 as a TypeError that
    // the Python layer never lets through (it checks the bounds first).
    if (n < 1 || n > cpu::pool_thread_limit())
      throw py::value_error("n: expected an integer in [1, " + std::to_string(cpu::pool_thread_limit()) +
                            "] (4 x the machine's logical CPUs), got " + std::to_string(n));
    py::gil_scoped_release release;
    cpu::pool_set_threads(int(n));
  });
  m.def("wait_policy", [] {
    const cpu::PoolWait w = cpu::pool_wait();
    return py::make_tuple(w.worker_spin_us, w.caller_spin_us);
  });
  m.def("set_wait_policy", [](int worker_spin_us, int caller_spin_us) {
    try {
      cpu::pool_set_wait({worker_spin_us, caller_spin_us});
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  });
  py::dict info;
  info["compiler"] = REGCORE_COMPILER;
  info["threading"] = "regcore thread pool";
  info["build_type"] = REGCORE_BUILD_TYPE;
  m.attr("build") = info;
}

}}  // namespace regcore::bindings
