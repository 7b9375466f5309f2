// The CUDA extension module: device queries, device views, one registration function per family.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cuda_runtime.h>

#include "device_view.h"

namespace regcore { namespace bindings {
void bind_random_cuda(pybind11::module_& m);
void bind_dropout_cuda(pybind11::module_& m);
void bind_init_cuda(pybind11::module_& m);
void bind_sgd_cuda(pybind11::module_& m);
void bind_average_cuda(pybind11::module_& m);
void bind_bench_cuda(pybind11::module_& m);
void bind_batchnorm_cuda(pybind11::module_& m);
}}  // namespace regcore::bindings

namespace py = pybind11;

// Devices visible now. No driver or no GPU is not an error: the list is empty.
static py::list cuda_devices() {
  py::list out;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return out;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    py::dict info;
    info["index"] = d;
    info["name"] = std::string(p.name);
    info["compute_capability"] = std::to_string(p.major) + "." + std::to_string(p.minor);
    info["multiprocessors"] = p.multiProcessorCount;
    info["memory_bytes"] = p.totalGlobalMem;
    out.append(info);
  }
  return out;
}

PYBIND11_MODULE(_regcore_cuda, m) {
  m.doc() = "regcore native CUDA kernels";
  py::dict build;
  build["cuda_version"] = REGCORE_CUDA_VERSION;
  build["architectures"] = REGCORE_CUDA_ARCHS;
  m.attr("build") = build;
  m.def("devices", &cuda_devices);
  m.def("synchronize", [] {
    py::gil_scoped_release nogil;
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
  });
  regcore::bindings::bind_device_view(m);
  regcore::bindings::bind_random_cuda(m);
  regcore::bindings::bind_dropout_cuda(m);
  regcore::bindings::bind_init_cuda(m);
  regcore::bindings::bind_sgd_cuda(m);
  regcore::bindings::bind_average_cuda(m);
  regcore::bindings::bind_bench_cuda(m);
  regcore::bindings::bind_batchnorm_cuda(m);
}
