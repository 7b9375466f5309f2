// _regcore_cuda_sim: the real CUDA bindings (csrc/bindings/bind_*_cuda.cpp, device_view.cpp) over
// the CUDA kernels executed on the CPU by simt, as a Python module with the CUDA module's kernel
// names. Host arrays enter as DLPack views (view_from_dlpack with require_cuda=False), so the
// Python tests can run regcore's public API through the CUDA code path and compare it with the
// CPU backends (tests/_cuda_sim.py). The benchmark bindings are left out: timing an emulation
// means nothing.
#include <pybind11/pybind11.h>

#include "device_view.h"

namespace regcore { namespace bindings {
void bind_random_cuda(pybind11::module_& m);
void bind_dropout_cuda(pybind11::module_& m);
void bind_init_cuda(pybind11::module_& m);
void bind_sgd_cuda(pybind11::module_& m);
void bind_batchnorm_cuda(pybind11::module_& m);
void bind_channel_dropout_cuda(pybind11::module_& m);
void bind_average_cuda(pybind11::module_& m);
}}  // namespace regcore::bindings

PYBIND11_MODULE(_regcore_cuda_sim, m) {
  m.doc() = "regcore's CUDA bindings and kernels, executed on the CPU (tests only)";
  regcore::bindings::bind_device_view(m);
  regcore::bindings::bind_random_cuda(m);
  regcore::bindings::bind_dropout_cuda(m);
  regcore::bindings::bind_init_cuda(m);
  regcore::bindings::bind_sgd_cuda(m);
  regcore::bindings::bind_batchnorm_cuda(m);
  regcore::bindings::bind_channel_dropout_cuda(m);
  regcore::bindings::bind_average_cuda(m);
  m.def("synchronize", [] {});
}
