// The copy-bandwidth baseline every kernel is compared against: read n elements, write n
// elements, nothing else. A kernel that must read x and write y cannot beat it, so "% of copy"
// says how close a kernel comes to what this machine's memory system allows.
//
// Same fixed chunks and thread pool as the kernels (csrc/cpu/parallel.h), and memcpy per chunk:
// the C library picks its best copy for the processor (wide vector moves, non-temporal stores
// for large blocks), which is the bar we want, independent of regcore's ISA switch.
#include <cstring>

#include "buffer.h"
#include "spec_baseline.h"

namespace regcore { namespace bench {
namespace {

template <class T>
CaseSpec copy_case(const char* dtype) {
  return spec::on_backend(spec::copy_spec<T>(dtype), "cpu", /*uses_isa=*/false, [](int64_t n) {
    return make_run([src = Buffer<T>(n, T(1)), dst = Buffer<T>(n), n]() mutable {
      const T* s = src.data();
      T* d = dst.data();
      cpu::parallel_chunks(n, cpu::kStreamChunk, [&](int64_t b, int64_t e) {
        std::memcpy(d + b, s + b, size_t(e - b) * sizeof(T));
      });
    });
  });
}

const Register r_copy_f32{copy_case<float>("float32")};
const Register r_copy_f64{copy_case<double>("float64")};

}  // namespace
}}  // namespace regcore::bench
