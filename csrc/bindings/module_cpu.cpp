// The CPU extension module: one registration function per family, nothing else.
#include <pybind11/pybind11.h>

namespace regcore { namespace bindings {
void bind_runtime(pybind11::module_& m);
void bind_random_cpu(pybind11::module_& m);
void bind_init_cpu(pybind11::module_& m);
void bind_bench_cpu(pybind11::module_& m);
void bind_batchnorm_cpu(pybind11::module_& m);
void bind_dropout_cpu(pybind11::module_& m);
void bind_channel_dropout_cpu(pybind11::module_& m);
void bind_sgd_cpu(pybind11::module_& m);
void bind_average_cpu(pybind11::module_& m);
void bind_convert_cpu(pybind11::module_& m);
void bind_buffer_cache_cpu(pybind11::module_& m);
}}  // namespace regcore::bindings

PYBIND11_MODULE(_regcore_cpu, m) {
  m.doc() = "regcore native CPU kernels (scalar / AVX2 / AVX-512, regcore thread pool)";
  regcore::bindings::bind_runtime(m);
  regcore::bindings::bind_random_cpu(m);
  regcore::bindings::bind_init_cpu(m);
  regcore::bindings::bind_bench_cpu(m);
  regcore::bindings::bind_batchnorm_cpu(m);
  regcore::bindings::bind_dropout_cpu(m);
  regcore::bindings::bind_channel_dropout_cpu(m);
  regcore::bindings::bind_sgd_cpu(m);
  regcore::bindings::bind_average_cpu(m);
  regcore::bindings::bind_convert_cpu(m);
  regcore::bindings::bind_buffer_cache_cpu(m);
}
