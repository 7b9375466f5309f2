// Weight init on the GPU: the same cases as csrc/bench/cases_init.cpp (csrc/bench/spec_init.h).
#include "../../cuda/init_api.h"
#include "../../cuda/random_api.h"
#include "../spec_init.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

using spec::kSeed;

template <class T, class Fill>
CaseSpec write_case(const char* kernel, const char* dtype, Fill fill) {
  return spec::on_backend(spec::init_spec<T>(kernel, dtype), "cuda", false, [fill](int64_t n) {
    return make_cuda_run([out = DeviceBuffer<T>(n), n, fill](uintptr_t s) mutable { fill(out.data(), n, s); });
  });
}

template <class T>
void trunc(T* p, int64_t n, uintptr_t s) {
  cuda::fill_trunc_normal(dtype_of<T>(), p, n, kSeed, 0, spec::trunc_p_lo(), spec::trunc_p_span(), 0.0, 1.0, -2.0, 2.0, s);
}
template <class T>
void kaiming(T* p, int64_t n, uintptr_t s) {
  cuda::fill_normal(dtype_of<T>(), p, n, kSeed, 0, 0.0, double(T(spec::kaiming_std())), s);
}

const Register r_trunc_f32{write_case<float>("trunc_normal", "float32", trunc<float>)};
const Register r_trunc_f64{write_case<double>("trunc_normal", "float64", trunc<double>)};
const Register r_kaiming_f32{write_case<float>("kaiming_normal", "float32", kaiming<float>)};
const Register r_kaiming_f64{write_case<double>("kaiming_normal", "float64", kaiming<double>)};

}  // namespace
}}  // namespace regcore::bench
