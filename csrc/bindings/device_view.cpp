#include "device_view.h"

#include <pybind11/stl.h>

#include <cuda_runtime.h>

#include <stdexcept>

namespace regcore { namespace bindings {

using namespace dlpack;

DeviceView::~DeviceView() {
  if (versioned && versioned->deleter) versioned->deleter(versioned);
  if (legacy && legacy->deleter) legacy->deleter(legacy);
}

int64_t DeviceView::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void check_view(const DeviceView& v, const char* expected_dtype, bool writeable, const char* name) {
  if (v.dtype != expected_dtype)
    throw py::type_error(std::string(name) + ": expected dtype " + expected_dtype + ", got " + v.dtype);
  if (!v.c_contiguous) throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (writeable && v.readonly) throw py::value_error(std::string(name) + ": array is read-only");
}

void check_view(const DeviceView& v, DType dt, bool writeable, const char* name) {
  check_view(v, dtype_name(dt), writeable, name);
}

DType float_dtype(const DeviceView& v, const char* name) {
  DType found = DType::f32;
  bool ok = false;
  for_each_dtype([&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    if (!ok && v.dtype == dtype_traits<S>::name) {
      found = dtype_of<S>();
      ok = true;
    }
  });
  if (!ok) throw py::type_error(std::string(name) + ": unsupported dtype " + v.dtype + " (expected " + dtype_names() + ")");
  return found;
}

namespace {

std::string dl_dtype_name(const DLDataType& t) {
  if (t.lanes != 1) return "vector";
  switch (t.code) {
    case kDLFloat: return t.bits == 32 ? "float32" : t.bits == 64 ? "float64" : t.bits == 16 ? "float16" : "float?";
    case kDLUInt: return "uint" + std::to_string(t.bits);
    case kDLInt: return "int" + std::to_string(t.bits);
    case kDLBfloat: return "bfloat16";
    default: return "unknown";
  }
}

bool strides_c_contiguous(int ndim, const int64_t* shape, const int64_t* strides) {
  if (!strides) return true;
  int64_t expected = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

void fill_from_tensor(DeviceView& v, const DLTensor& t, const char* name, bool require_cuda) {
  if (require_cuda && t.device.device_type != kDLCUDA && t.device.device_type != kDLCUDAManaged)
    throw py::value_error(std::string(name) + ": expected an array on a CUDA device");
  v.data = static_cast<char*>(t.data) + t.byte_offset;
  v.shape.assign(t.shape, t.shape + t.ndim);
  v.dtype = dl_dtype_name(t.dtype);
  v.device_id = t.device.device_id;
  v.c_contiguous = strides_c_contiguous(t.ndim, t.shape, t.strides);
}

// Consume a DLPack capsule as the protocol asks: take the tensor, rename the capsule to its
// "used_" name so its destructor leaves the tensor alone, and own the deleter from now on.
// require_cuda=false lets the tests exercise this parser with CPU capsules on machines with no GPU.
std::unique_ptr<DeviceView> view_from_dlpack(py::capsule cap, const char* name, uintptr_t stream,
                                             bool require_cuda) {
  auto v = std::make_unique<DeviceView>();
  v->stream = stream;
  PyObject* obj = cap.ptr();
  if (PyCapsule_IsValid(obj, "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(obj, "dltensor_versioned"));
    if (m->version.major > 1)
      throw py::value_error(std::string(name) + ": DLPack version " + std::to_string(m->version.major) +
                            " is newer than this consumer (1.x)");
    fill_from_tensor(*v, m->dl_tensor, name, require_cuda);
    v->readonly = (m->flags & kFlagReadOnly) != 0;
    PyCapsule_SetName(obj, "used_dltensor_versioned");
    v->versioned = m;
  } else if (PyCapsule_IsValid(obj, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(obj, "dltensor"));
    fill_from_tensor(*v, m->dl_tensor, name, require_cuda);
    PyCapsule_SetName(obj, "used_dltensor");
    v->legacy = m;
  } else {
    throw py::type_error(std::string(name) + ": __dlpack__ returned something that is not an unused DLPack capsule");
  }
  return v;
}

// __cuda_array_interface__ (v2/v3). When the producer names a stream, our stream waits for it
// (an event, not a device-wide sync), as version 3 of the interface asks of consumers.
std::unique_ptr<DeviceView> view_from_cai(py::dict cai, const char* name, uintptr_t stream) {
  auto v = std::make_unique<DeviceView>();
  v->stream = stream;
  py::tuple data = cai["data"].cast<py::tuple>();
  v->data = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
  v->readonly = data[1].cast<bool>();
  for (auto d : cai["shape"].cast<py::tuple>()) v->shape.push_back(d.cast<int64_t>());
  std::string typestr = cai["typestr"].cast<std::string>();
  if (typestr == "<f4") v->dtype = "float32";
  else if (typestr == "<f8") v->dtype = "float64";
  else if (typestr == "<u4") v->dtype = "uint32";
  else if (typestr == "|u1") v->dtype = "uint8";
  else v->dtype = "unsupported(" + typestr + ")";
  const int64_t itemsize = typestr.size() >= 3 ? std::stoll(typestr.substr(2)) : 1;
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    std::vector<int64_t> st;
    for (auto s : cai["strides"].cast<py::tuple>()) st.push_back(s.cast<int64_t>() / itemsize);
    v->c_contiguous = strides_c_contiguous(int(v->shape.size()), v->shape.data(), st.data());
  }
  cudaPointerAttributes attr{};
  if (v->data && cudaPointerGetAttributes(&attr, v->data) == cudaSuccess) v->device_id = attr.device;
  if (cai.contains("stream") && !cai["stream"].is_none()) {
    auto producer = reinterpret_cast<cudaStream_t>(cai["stream"].cast<uintptr_t>());
    auto ours = reinterpret_cast<cudaStream_t>(stream);
    if (producer != ours) {
      cudaEvent_t ev;
      if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) != cudaSuccess ||
          cudaEventRecord(ev, producer) != cudaSuccess || cudaStreamWaitEvent(ours, ev, 0) != cudaSuccess)
        throw std::runtime_error(std::string(name) + ": could not order with the producer's stream");
      cudaEventDestroy(ev);
    }
  }
  return v;
}

}  // namespace

void bind_device_view(py::module_& m) {
  // module_local: the tests' _regcore_cuda_sim (the same bindings over the kernels executed on the
  // CPU) registers this C++ type too, in the same process as _regcore_cuda; a global registration
  // would make the second import fail. Views never travel between the two modules.
  py::class_<DeviceView>(m, "DeviceView", py::module_local())
      .def_property_readonly("shape", [](const DeviceView& v) { return py::tuple(py::cast(v.shape)); })
      .def_readonly("dtype", &DeviceView::dtype)
      .def_readonly("device_id", &DeviceView::device_id)
      .def_readonly("readonly", &DeviceView::readonly)
      .def_readonly("c_contiguous", &DeviceView::c_contiguous)
      .def_readonly("stream", &DeviceView::stream)
      .def_property_readonly("ptr", [](const DeviceView& v) { return reinterpret_cast<uintptr_t>(v.data); });
  m.def("view_from_dlpack", &view_from_dlpack, py::arg("capsule"), py::arg("name"), py::arg("stream"),
        py::arg("require_cuda") = true);
  m.def("view_from_cai", &view_from_cai, py::arg("cai"), py::arg("name"), py::arg("stream"));
}

}}  // namespace regcore::bindings
