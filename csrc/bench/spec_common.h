// What the CPU case files (csrc/bench/cases_<family>.cpp) and the CUDA ones
// (csrc/bench/cuda/cases_<family>_cuda.cpp) share: one spec_<family>.h per family holds the
// constants, case names, sizes, shapes and minimum-byte formulas, so the two backends report the
// same cases by construction (tests/test_bench_smoke.py checks it). Plain host code: no CUDA
// headers, compiled by the host compiler in both the CPU and the CUDA case TUs.
//
// A spec builder returns a CaseSpec with everything but the backend, uses_isa and setup, which
// the case file fills in with `on_backend`.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/half.h"

#include "bench_case.h"

namespace regcore { namespace bench { namespace spec {

constexpr uint64_t kSeed = 20240607;  // the counter-stream seed of every random case

inline int64_t zero_state(int64_t) { return 0; }

// A storage value of T from a double (16-bit formats: rounded once, core/half.h).
template <class T> T value_of(double v) {
  if constexpr (std::is_integral<T>::value) {
    return T(v);
  } else {
    T r;
    elem_store_f64(&r, v);
    return r;
  }
}

// A case that writes n elements of T and reads nothing (random draws, weight init).
template <class T>
CaseSpec write_only_spec(const char* family, const char* kernel, const char* dtype) {
  CaseSpec c{};
  c.family = family;
  c.kernel = kernel;
  c.dtype = dtype;
  c.bytes_formula = "write " + std::to_string(sizeof(T)) + "n";
  c.min_bytes = [](int64_t n) { return n * int64_t(sizeof(T)); };
  c.state_formula = "0";
  c.state_bytes = zero_state;
  c.items = "samples";
  return c;
}

// The spec with its backend, ISA flag and setup filled in.
template <class Setup>
CaseSpec on_backend(CaseSpec c, const char* backend, bool uses_isa, Setup setup) {
  c.backend = backend;
  c.uses_isa = uses_isa;
  c.setup = std::move(setup);
  return c;
}

}}}  // namespace regcore::bench::spec
