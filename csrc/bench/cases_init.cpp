// Weight init (csrc/cpu/init_api.h, csrc/cpu/random_api.h): write n elements, read nothing; the
// cases, constants and minimum bytes are in spec_init.h.
#include "../cpu/init_api.h"
#include "../cpu/random_api.h"
#include "buffer.h"
#include "spec_init.h"

namespace regcore { namespace bench {
namespace {

using spec::kSeed;

template <class T, class Fill>
CaseSpec write_case(const char* kernel, const char* dtype, Fill fill) {
  return spec::on_backend(spec::init_spec<T>(kernel, dtype), "cpu", true, [fill](int64_t n) {
    return make_run([out = Buffer<T>(n), n, fill]() mutable { fill(out.data(), n); });
  });
}

template <class T>
void trunc(T* p, int64_t n) {
  cpu::fill_trunc_normal(dtype_of<T>(), p, n, kSeed, 0, spec::trunc_p_lo(), spec::trunc_p_span(), 0.0, 1.0, -2.0, 2.0);
}
template <class T>
void kaiming(T* p, int64_t n) {
  cpu::fill_normal(dtype_of<T>(), p, n, kSeed, 0, 0.0, double(compute_t<T>(spec::kaiming_std())));
}

const Register r_trunc_f32{write_case<float>("trunc_normal", "float32", trunc<float>)};
const Register r_trunc_f64{write_case<double>("trunc_normal", "float64", trunc<double>)};
const Register r_kaiming_f32{write_case<float>("kaiming_normal", "float32", kaiming<float>)};
const Register r_kaiming_f64{write_case<double>("kaiming_normal", "float64", kaiming<double>)};
const Register r_trunc_bf16{write_case<bfloat16_t>("trunc_normal", "bfloat16", trunc<bfloat16_t>)};
const Register r_kaiming_bf16{write_case<bfloat16_t>("kaiming_normal", "bfloat16", kaiming<bfloat16_t>)};

}  // namespace
}}  // namespace regcore::bench
