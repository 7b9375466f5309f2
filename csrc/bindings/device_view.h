// A CUDA array seen by the CUDA module: device pointer, shape, dtype, device, read-only flag and
// the stream kernels must run on. Made from a DLPack capsule (versioned or legacy) or from the
// fields of __cuda_array_interface__. The view owns the consumed DLPack tensor and calls its
// deleter when it dies, so the producer's memory stays alive for as long as the view does.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/dtype.h"
#include "dlpack_abi.h"

namespace regcore { namespace bindings {

namespace py = pybind11;

struct DeviceView {
  void* data = nullptr;
  std::vector<int64_t> shape;
  std::string dtype;       // NumPy dtype name: "float32", "float64", "uint32", "uint8", ...
  int device_id = 0;
  bool readonly = false;
  bool c_contiguous = true;
  uintptr_t stream = 1;    // cudaStream_t value: 1 = legacy default, 2 = per-thread, else a handle
  dlpack::DLManagedTensor* legacy = nullptr;
  dlpack::DLManagedTensorVersioned* versioned = nullptr;

  DeviceView() = default;
  DeviceView(const DeviceView&) = delete;
  DeviceView& operator=(const DeviceView&) = delete;
  ~DeviceView();

  int64_t size() const;
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

// Checked accessors used by the CUDA bindings (the Python layer has validated already; these
// are the last guard against writing through a read-only or mistyped view).
void check_view(const DeviceView& v, const char* expected_dtype, bool writeable, const char* name);
void check_view(const DeviceView& v, DType dt, bool writeable, const char* name);

// The tag of a float view's dtype (TypeError naming the argument otherwise): the one place where a
// CUDA array's dtype name becomes regcore's dtype tag (core/dtype.h).
DType float_dtype(const DeviceView& v, const char* name);

void bind_device_view(py::module_& m);

}}  // namespace regcore::bindings
