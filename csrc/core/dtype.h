// The element types of regcore's float arrays as one tag, DType, that every layer passes down:
// bindings -> cpu/<family>_api -> one table entry per op (cpu/<family>_table.h), and bindings ->
// cuda/<family>.cu. The tag becomes a C++ type again in ONE place, visit_dtype below, which each
// kernel translation unit calls in its table entries (so the switch exists once per ISA level) and
// each CUDA file in its entry points. Nothing above the kernels switches on the dtype.
//
// Adding a dtype: a line in REGCORE_DTYPES, its storage type and dtype_traits here, and its name
// in the two array intakes (csrc/bindings/array_args.h for NumPy arrays, device_view.cpp for CUDA
// arrays). Kernels are templates over the storage type, so every family then has it.
//
// The enum and the traits hold no code, so they live outside the per-ISA namespaces and one type
// is shared by the baseline layer, every ISA level and CUDA; every function is inside them
// (core/config.h explains the one-definition trap).
#pragma once
#include <cstdint>
#include <string>

#include "config.h"
#include "half.h"

namespace regcore {

enum class DType : int32_t { f32 = 0, f64 = 1, bf16 = 2, f16 = 3 };

// X(tag, storage type) for every dtype, in tag order.
#define REGCORE_DTYPES(X) X(f32, float) X(f64, double) X(bf16, bfloat16_t) X(f16, float16_t)

// Storage type -> its tag, the type its arithmetic runs in, and its NumPy name.
template <class S> struct dtype_traits;
template <> struct dtype_traits<float> {
  static constexpr DType tag = DType::f32;
  using compute = float;
  static constexpr const char* name = "float32";
};
template <> struct dtype_traits<double> {
  static constexpr DType tag = DType::f64;
  using compute = double;
  static constexpr const char* name = "float64";
};

// The 16-bit formats store 16 bits and compute in float32 (core/half.h converts).
template <> struct dtype_traits<bfloat16_t> {
  static constexpr DType tag = DType::bf16;
  using compute = float;
  static constexpr const char* name = "bfloat16";
};
template <> struct dtype_traits<float16_t> {
  static constexpr DType tag = DType::f16;
  using compute = float;
  static constexpr const char* name = "float16";
};

template <class S> using compute_t = typename dtype_traits<S>::compute;

template <class T> struct type_tag { using type = T; };

}  // namespace regcore

REGCORE_CORE_BEGIN

template <class S> constexpr DType dtype_of() { return dtype_traits<S>::tag; }

// f(type_tag<S>{}) for the storage type S of dt: the one switch on the dtype. Host code only (CUDA
// entry points call it before they launch).
template <class F> inline decltype(auto) visit_dtype(DType dt, F&& f) {
  switch (dt) {
#define REGCORE_DTYPE_CASE(tag, S) \
  case DType::tag: return f(type_tag<S>{});
    REGCORE_DTYPES(REGCORE_DTYPE_CASE)
#undef REGCORE_DTYPE_CASE
  }
  return f(type_tag<float>{});  // not a DType: the intakes never let one through
}

// The same switch over float32 and float64 only, for kernels that still read their elements as
// plain C++ values instead of through elem_load / vload (core/half.h): their family's Python
// layer accepts only those two dtypes, so no other tag reaches them. Moving a family to every
// dtype = loading and storing through those helpers, then calling visit_dtype.
template <class F> inline decltype(auto) visit_dtype_f32_f64(DType dt, F&& f) {
  if (dt == DType::f64) return f(type_tag<double>{});
  return f(type_tag<float>{});
}

// f(type_tag<S>{}) for every dtype, in tag order (launch tables built per dtype).
template <class F> inline void for_each_dtype(F&& f) {
#define REGCORE_DTYPE_EACH(tag, S) f(type_tag<S>{});
  REGCORE_DTYPES(REGCORE_DTYPE_EACH)
#undef REGCORE_DTYPE_EACH
}

inline const char* dtype_name(DType dt) {
  return visit_dtype(dt, [](auto t) { return dtype_traits<typename decltype(t)::type>::name; });
}
// "float32 or float64": every dtype's name, for error messages.
inline std::string dtype_names() {
  std::string s;
  for_each_dtype([&](auto t) { s += (s.empty() ? "" : " or ") + std::string(dtype_traits<typename decltype(t)::type>::name); });
  return s;
}
inline int dtype_size(DType dt) {
  return visit_dtype(dt, [](auto t) { return int(sizeof(typename decltype(t)::type)); });
}
// The dtype the arithmetic of dt runs in (also the dtype of its per-channel coefficients).
inline DType compute_dtype(DType dt) {
  return visit_dtype(dt, [](auto t) { return dtype_of<compute_t<typename decltype(t)::type>>(); });
}

REGCORE_CORE_END

// The storage type of a type_tag argument inside a visit_dtype lambda.
#define REGCORE_TAG_TYPE(t) typename decltype(t)::type
