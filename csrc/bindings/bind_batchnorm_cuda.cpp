// Batch- and layer-normalization passes for CUDA device views: dtype switch, size and device
// guards, pointer extraction, GIL release. No math (the Python layer computes the coefficients).
#include <pybind11/pybind11.h>

#include <string>

#include "../cuda/batchnorm_api.h"
#include "../cuda/launch.h"
#include "../cuda/layernorm_api.h"
#include "device_view.h"

namespace regcore { namespace bindings {

namespace {

const char* dtype_of(const DeviceView& x) {
  if (x.dtype == "float32") return "float32";
  if (x.dtype == "float64") return "float64";
  throw py::type_error("x: expected dtype float32 or float64, got " + x.dtype);
}

void check(const DeviceView& v, const DeviceView& x, const char* dtype, int64_t n, bool writeable, const char* name) {
  check_view(v, dtype, writeable, name);
  if (v.size() != n)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(n) + " elements, got " +
                          std::to_string(v.size()));
  if (v.device_id != x.device_id)
    throw py::value_error(std::string(name) + ": expected an array on cuda:" + std::to_string(x.device_id));
}

template <class T>
cuda::BnCoef<T> coef(const DeviceView& x, const char* dt, int64_t C, const DeviceView& mhi, const DeviceView& mlo,
                     const DeviceView& scale, const DeviceView& shift) {
  check(mhi, x, dt, C, false, "mhi");
  check(mlo, x, dt, C, false, "mlo");
  check(scale, x, dt, C, false, "scale");
  check(shift, x, dt, C, false, "shift");
  return {mhi.ptr<T>(), mlo.ptr<T>(), scale.ptr<T>(), shift.ptr<T>()};
}

template <class T>
cuda::LnCoef<T> ln_coef(const DeviceView& x, const char* dt, int64_t R, int64_t L, const DeviceView& mhi,
                        const DeviceView& mlo, const DeviceView& rstd, const DeviceView& gamma,
                        const DeviceView& beta) {
  check(mhi, x, dt, R, false, "mhi");
  check(mlo, x, dt, R, false, "mlo");
  check(rstd, x, dt, R, false, "rstd");
  check(gamma, x, dt, L, false, "gamma");
  check(beta, x, dt, L, false, "beta");
  return {mhi.ptr<T>(), mlo.ptr<T>(), rstd.ptr<T>(), gamma.ptr<T>(), beta.ptr<T>()};
}

template <class T>
void ln_normalize(const DeviceView& x, const DeviceView& y, int64_t R, int64_t L, const DeviceView& mhi,
                  const DeviceView& mlo, const DeviceView& rstd, const DeviceView& gamma, const DeviceView& beta) {
  const char* dt = dtype_of(x);
  check(x, x, dt, R * L, false, "x");
  check(y, x, dt, R * L, true, "y");
  const auto k = ln_coef<T>(x, dt, R, L, mhi, mlo, rstd, gamma, beta);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::ln_normalize(x.ptr<T>(), y.ptr<T>(), R, L, k, x.stream);
}

template <class T>
void ln_grad_reduce(const DeviceView& dy, const DeviceView& x, int64_t R, int64_t L, const DeviceView& mhi,
                    const DeviceView& mlo, const DeviceView& rstd, const DeviceView& gamma, const DeviceView& beta,
                    const DeviceView& row_out, const DeviceView& col_out) {
  const char* dt = dtype_of(x);
  check(x, x, dt, R * L, false, "x");
  check(dy, x, dt, R * L, false, "dy");
  check(row_out, x, "float64", 2 * R, true, "row_out");
  check(col_out, x, "float64", 2 * L, true, "col_out");
  const auto k = ln_coef<T>(x, dt, R, L, mhi, mlo, rstd, gamma, beta);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::ln_grad_reduce(dy.ptr<T>(), x.ptr<T>(), R, L, k, row_out.ptr<double>(), col_out.ptr<double>(), x.stream);
}

template <class T>
void ln_grad_apply(const DeviceView& dy, const DeviceView& x, const DeviceView& dx, int64_t R, int64_t L,
                   const DeviceView& mhi, const DeviceView& mlo, const DeviceView& rstd, const DeviceView& gamma,
                   const DeviceView& beta, const DeviceView& kb, const DeviceView& kc) {
  const char* dt = dtype_of(x);
  check(x, x, dt, R * L, false, "x");
  check(dy, x, dt, R * L, false, "dy");
  check(dx, x, dt, R * L, true, "dx");
  check(kb, x, dt, R, false, "kb");
  check(kc, x, dt, R, false, "kc");
  const auto k = ln_coef<T>(x, dt, R, L, mhi, mlo, rstd, gamma, beta);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::ln_grad_apply(dy.ptr<T>(), x.ptr<T>(), dx.ptr<T>(), R, L, k, kb.ptr<T>(), kc.ptr<T>(), x.stream);
}

}  // namespace

void bind_batchnorm_cuda(py::module_& m) {
  m.def("bn_moments", [](const DeviceView& x, int64_t N, int64_t C, int64_t S, const DeviceView& out) {
    const char* dt = dtype_of(x);
    check(x, x, dt, N * C * S, false, "x");
    check(out, x, "float64", 3 * C, true, "out");
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device_id);
    if (x.dtype == "float32") cuda::bn_moments(x.ptr<float>(), N, C, S, out.ptr<double>(), x.stream);
    else cuda::bn_moments(x.ptr<double>(), N, C, S, out.ptr<double>(), x.stream);
  });

  m.def("bn_normalize", [](const DeviceView& x, const DeviceView& y, int64_t N, int64_t C, int64_t S,
                           const DeviceView& mhi, const DeviceView& mlo, const DeviceView& scale,
                           const DeviceView& shift, bool relu) {
    const char* dt = dtype_of(x);
    check(x, x, dt, N * C * S, false, "x");
    check(y, x, dt, N * C * S, true, "y");
    if (x.dtype == "float32") {
      const auto k = coef<float>(x, dt, C, mhi, mlo, scale, shift);
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(x.device_id);
      cuda::bn_normalize(x.ptr<float>(), y.ptr<float>(), N, C, S, k, relu, x.stream);
    } else {
      const auto k = coef<double>(x, dt, C, mhi, mlo, scale, shift);
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(x.device_id);
      cuda::bn_normalize(x.ptr<double>(), y.ptr<double>(), N, C, S, k, relu, x.stream);
    }
  });

  m.def("bn_grad_reduce", [](const DeviceView& dy, const DeviceView& x, int64_t N, int64_t C, int64_t S,
                             const DeviceView& mhi, const DeviceView& mlo, const DeviceView& scale,
                             const DeviceView& shift, bool relu, const DeviceView& out) {
    const char* dt = dtype_of(x);
    check(x, x, dt, N * C * S, false, "x");
    check(dy, x, dt, N * C * S, false, "dy");
    check(out, x, "float64", 2 * C, true, "out");
    if (x.dtype == "float32") {
      const auto k = coef<float>(x, dt, C, mhi, mlo, scale, shift);
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(x.device_id);
      cuda::bn_grad_reduce(dy.ptr<float>(), x.ptr<float>(), N, C, S, k, relu, out.ptr<double>(), x.stream);
    } else {
      const auto k = coef<double>(x, dt, C, mhi, mlo, scale, shift);
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(x.device_id);
      cuda::bn_grad_reduce(dy.ptr<double>(), x.ptr<double>(), N, C, S, k, relu, out.ptr<double>(), x.stream);
    }
  });

  m.def("bn_grad_apply", [](const DeviceView& dy, const DeviceView& x, const DeviceView& dx, int64_t N, int64_t C,
                            int64_t S, const DeviceView& mhi, const DeviceView& mlo, const DeviceView& scale,
                            const DeviceView& shift, const DeviceView& ka, const DeviceView& kb,
                            const DeviceView& kc, bool relu) {
    const char* dt = dtype_of(x);
    check(x, x, dt, N * C * S, false, "x");
    check(dy, x, dt, N * C * S, false, "dy");
    check(dx, x, dt, N * C * S, true, "dx");
    check(ka, x, dt, C, false, "ka");
    check(kb, x, dt, C, false, "kb");
    check(kc, x, dt, C, false, "kc");
    if (x.dtype == "float32") {
      const auto k = coef<float>(x, dt, C, mhi, mlo, scale, shift);
      const cuda::BnGradCoef<float> g{ka.ptr<float>(), kb.ptr<float>(), kc.ptr<float>()};
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(x.device_id);
      cuda::bn_grad_apply(dy.ptr<float>(), x.ptr<float>(), dx.ptr<float>(), N, C, S, k, g, relu, x.stream);
    } else {
      const auto k = coef<double>(x, dt, C, mhi, mlo, scale, shift);
      const cuda::BnGradCoef<double> g{ka.ptr<double>(), kb.ptr<double>(), kc.ptr<double>()};
      py::gil_scoped_release nogil;
      cuda::DeviceGuard guard(x.device_id);
      cuda::bn_grad_apply(dy.ptr<double>(), x.ptr<double>(), dx.ptr<double>(), N, C, S, k, g, relu, x.stream);
    }
  });

  // Layer norm with a per-element affine over the (R, L) view (csrc/cuda/layernorm_api.h).
  m.def("ln_normalize", [](const DeviceView& x, const DeviceView& y, int64_t R, int64_t L, const DeviceView& mhi,
                           const DeviceView& mlo, const DeviceView& rstd, const DeviceView& gamma,
                           const DeviceView& beta) {
    if (dtype_of(x) == std::string("float32")) ln_normalize<float>(x, y, R, L, mhi, mlo, rstd, gamma, beta);
    else ln_normalize<double>(x, y, R, L, mhi, mlo, rstd, gamma, beta);
  });

  m.def("ln_grad_reduce", [](const DeviceView& dy, const DeviceView& x, int64_t R, int64_t L, const DeviceView& mhi,
                             const DeviceView& mlo, const DeviceView& rstd, const DeviceView& gamma,
                             const DeviceView& beta, const DeviceView& row_out, const DeviceView& col_out) {
    if (dtype_of(x) == std::string("float32"))
      ln_grad_reduce<float>(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out);
    else ln_grad_reduce<double>(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out);
  });

  m.def("ln_grad_apply", [](const DeviceView& dy, const DeviceView& x, const DeviceView& dx, int64_t R, int64_t L,
                            const DeviceView& mhi, const DeviceView& mlo, const DeviceView& rstd,
                            const DeviceView& gamma, const DeviceView& beta, const DeviceView& kb,
                            const DeviceView& kc) {
    if (dtype_of(x) == std::string("float32"))
      ln_grad_apply<float>(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc);
    else ln_grad_apply<double>(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc);
  });
}

}}  // namespace regcore::bindings
