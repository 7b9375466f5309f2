// Build facts and run-time switches of the CPU module: ISA level, thread count.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "../cpu/dispatch.h"
#include "../cpu/parallel.h"

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
      throw py::value_error(e.what());
    }
  });
  m.def("max_threads", &cpu::max_threads);
  m.def("set_threads", [](int n) {
    if (n < 1) throw py::value_error("threads: expected a positive integer");
    cpu::set_threads(n);
  });
  py::dict info;
  info["compiler"] = REGCORE_COMPILER;
#ifdef _OPENMP
  info["openmp"] = int(_OPENMP);
#else
  info["openmp"] = py::none();
#endif
  info["build_type"] = REGCORE_BUILD_TYPE;
  m.attr("build") = info;
}

}}  // namespace regcore::bindings
