// NumPy arrays -> raw pointers for the CPU module. The Python layer validates every argument
// first; these checks are the last guard against a silent copy: arguments are declared
// .noconvert(), and a pointer is handed out only for the exact dtype, C order and (for outputs)
// a writeable buffer, so an in-place update can never land in a temporary.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

namespace regcore { namespace bindings {

namespace py = pybind11;

template <class T>
void check_array(const py::array& a, const char* name) {
  if (!py::isinstance<py::array_t<T>>(a) || !a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected dtype " +
                         std::string(py::str(py::dtype::of<T>())) + ", got " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
}

template <class T>
T* out_ptr(py::array& a, const char* name) {
  check_array<T>(a, name);
  if (!a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return static_cast<T*>(a.mutable_data());
}

template <class T>
const T* in_ptr(const py::array& a, const char* name) {
  check_array<T>(a, name);
  return static_cast<const T*>(a.data());
}

inline bool is_dtype(const py::array& a, const py::dtype& d) { return a.dtype().is(d); }
template <class T> bool is_dtype(const py::array& a) { return a.dtype().is(py::dtype::of<T>()); }

[[noreturn]] inline void unsupported_dtype(const py::array& a, const char* name) {
  throw py::type_error(std::string(name) + ": unsupported dtype " + std::string(py::str(a.dtype())) +
                       " (expected float32 or float64)");
}

}}  // namespace regcore::bindings
