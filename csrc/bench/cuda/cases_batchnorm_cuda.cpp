// Batch normalization on the GPU (csrc/cuda/batchnorm_api.h): the same cases, names, sizes and
// minimum bytes as csrc/bench/cases_batchnorm.cpp (csrc/bench/spec_batchnorm.h). Timed: the
// array passes of each phase on one stream (training forward = moments + normalize; backward = reduce + apply; inference =
// normalize; stats = moments). The O(C) coefficient step between them (done by the Python layer in the caller's
// array library) is not in the device timing: coefficients are fixed device vectors here.
#include <memory>

#include "../../cuda/batchnorm_api.h"
#include "../spec_batchnorm.h"
#include "cuda_run.h"

namespace regcore { namespace bench {
namespace {

using namespace spec;  // NOLINT: the family's layouts, passes and spec builder

template <class T>
struct DeviceLayer {
  int64_t N, C, S;
  DeviceBuffer<T> x, y, dy, dx;
  DeviceBuffer<double> stats, red;
  DeviceBuffer<T> mhi, mlo, scale, shift, ka, kb, kc;  // zeros: the work does not depend on them
  DeviceLayer(const Layout& l, int64_t n)
      : N(n / (l.C * l.S)), C(l.C), S(l.S), x(n), y(n), dy(n), dx(n), stats(3 * l.C), red(2 * l.C),
        mhi(l.C), mlo(l.C), scale(l.C), shift(l.C), ka(l.C), kb(l.C), kc(l.C) {}
  BnCoef coef() { return {mhi.data(), mlo.data(), scale.data(), shift.data()}; }
  void run(Pass p, uintptr_t s) {
    if (p == kForward) {
      cuda::bn_moments(dtype_of<T>(), x.data(), N, C, S, stats.data(), s);
      cuda::bn_normalize(dtype_of<T>(), x.data(), y.data(), N, C, S, coef(), false, s);
    } else if (p == kBackward) {
      cuda::bn_grad_reduce(dtype_of<T>(), dy.data(), x.data(), N, C, S, coef(), false, red.data(), s);
      cuda::bn_grad_apply(dtype_of<T>(), dy.data(), x.data(), dx.data(), N, C, S, coef(),
                          BnGradCoef{ka.data(), kb.data(), kc.data()}, false, s);
    } else if (p == kInference) {
      cuda::bn_normalize(dtype_of<T>(), x.data(), y.data(), N, C, S, coef(), false, s);
    } else {
      cuda::bn_moments(dtype_of<T>(), x.data(), N, C, S, stats.data(), s);
    }
  }
};

template <class T>
CaseSpec bn_case(const Layout& l, Pass pass, const char* dtype) {
  return on_backend(bn_spec<T>(l, pass, dtype), "cuda", false, [l, pass](int64_t n) {
    check_batch(l, n);
    auto layer = std::make_shared<DeviceLayer<T>>(l, n);
    return make_cuda_run([layer, pass](uintptr_t st) { layer->run(pass, st); });
  });
}

REGCORE_BN_REGISTER_CASES(float, "float32", f32)
REGCORE_BN_REGISTER_CASES(double, "float64", f64)

}  // namespace
}}  // namespace regcore::bench
