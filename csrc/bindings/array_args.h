// NumPy arrays -> raw pointers and dtype tags for the CPU module. The Python layer validates every
// argument first; these checks are the last guard against a silent copy: arguments are declared
// .noconvert(), and a pointer is handed out only for the exact dtype, C order and (for outputs)
// a writeable buffer, so an in-place update can never land in a temporary.
//
// This is the one place where NumPy dtypes become regcore's dtype tags (core/dtype.h); the
// bindings pass the tag down and never switch on it.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "../core/dtype.h"

namespace regcore { namespace bindings {

namespace py = pybind11;

// The NumPy dtype an array of each storage type arrives as. bfloat16 has no NumPy dtype of its
// own (ml_dtypes' is not part of the buffer protocol or DLPack), so the Python layer passes
// bfloat16 data as a uint16 view of the same memory (regcore/_dtypes.py), or as ml_dtypes'
// bfloat16 array itself (is_ml_bfloat16 below); uint16 is not a data dtype of any kernel, so the
// tag is unambiguous. float16 is NumPy's own.
template <class S> inline py::dtype storage_dtype() { return py::dtype::of<S>(); }
template <> inline py::dtype storage_dtype<bfloat16_t>() { return py::dtype::of<uint16_t>(); }
template <> inline py::dtype storage_dtype<float16_t>() {
  // NumPy's cached descriptor, looked up once (never destroyed: no Python call at exit).
  static const py::dtype* d = new py::dtype("float16");
  return *d;
}

// ml_dtypes' bfloat16 dtype: the trusted paths of regcore.torch hand bfloat16 tensors over as
// ml_dtypes views (the dtype their plans compute with), which are the same bytes as the uint16
// view. Recognized by name once, then by descriptor (a registered NumPy dtype has one), so the
// test costs a pointer compare per array; it runs only when the uint16 match has failed.
inline bool is_ml_bfloat16(const py::dtype& d) {
  static PyObject* known = nullptr;  // the descriptor, kept alive once seen
  if (d.ptr() == known) return true;
  if (d.kind() != 'V' || d.itemsize() != 2 || std::string(py::str(d)) != "bfloat16") return false;
  if (!known) {
    known = d.ptr();
    Py_INCREF(known);
  }
  return true;
}

// The NumPy dtype of each tag (cheap: NumPy's cached descriptors).
inline py::dtype numpy_dtype(DType dt) {
  return visit_dtype(dt, [](auto t) { return storage_dtype<REGCORE_TAG_TYPE(t)>(); });
}

// The tag of a NumPy dtype; false when regcore has no such float dtype.
inline bool tag_of(const py::dtype& d, DType& dt) {
  bool found = false;
  for_each_dtype([&](auto t) {
    using S = REGCORE_TAG_TYPE(t);
    if (!found && d.is(storage_dtype<S>())) {
      dt = dtype_of<S>();
      found = true;
    }
  });
  if (!found && is_ml_bfloat16(d)) {
    dt = DType::bf16;
    found = true;
  }
  return found;
}

[[noreturn]] inline void unsupported_dtype(const py::dtype& d, const char* name) {
  throw py::type_error(std::string(name) + ": unsupported dtype " + std::string(py::str(d)) + " (expected " +
                       dtype_names() + ")");
}

// The tag of a float array's dtype (TypeError naming the argument otherwise).
inline DType float_dtype(const py::array& a, const char* name) {
  DType dt;
  if (!tag_of(a.dtype(), dt)) unsupported_dtype(a.dtype(), name);
  return dt;
}
// The tag of a dtype object passed as an argument (the per-channel glue's `dtype=`).
inline DType float_dtype(const py::object& dtype, const char* name) {
  const py::dtype d = py::dtype::from_args(dtype);
  DType dt;
  if (tag_of(d, dt)) return dt;
  // ml_dtypes' bfloat16 dtype object itself (a dtype argument, not an array: arrays arrive as
  // their uint16 view)
  if (std::string(py::str(d)) == "bfloat16") return DType::bf16;
  unsupported_dtype(d, name);
}

inline void check_array(const py::array& a, const py::dtype& want, const char* name) {
  if (!a.dtype().is(want) && !(want.is(storage_dtype<bfloat16_t>()) && is_ml_bfloat16(a.dtype())))
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(want)) + ", got " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
}

inline void* out_ptr(py::array& a, const py::dtype& want, const char* name) {
  check_array(a, want, name);
  if (!a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return a.mutable_data();
}
inline const void* in_ptr(const py::array& a, const py::dtype& want, const char* name) {
  check_array(a, want, name);
  return a.data();
}

// Float arrays of element type dt.
inline void* out_ptr(py::array& a, DType dt, const char* name) { return out_ptr(a, numpy_dtype(dt), name); }
inline const void* in_ptr(const py::array& a, DType dt, const char* name) {
  return in_ptr(a, numpy_dtype(dt), name);
}

// Arrays of a fixed C++ element type (masks, keys, float64 sums).
template <class T>
T* out_ptr(py::array& a, const char* name) {
  return static_cast<T*>(out_ptr(a, py::dtype::of<T>(), name));
}
template <class T>
const T* in_ptr(const py::array& a, const char* name) {
  return static_cast<const T*>(in_ptr(a, py::dtype::of<T>(), name));
}

}}  // namespace regcore::bindings
