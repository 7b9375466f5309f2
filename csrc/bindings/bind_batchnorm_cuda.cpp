// Batch- and layer-normalization passes for CUDA device views: dtype tags, size and device guards,
// pointer extraction, GIL release. No math (the Python layer computes the coefficients).
#include <pybind11/pybind11.h>

#include <string>

#include "../cuda/batchnorm_api.h"
#include "../cuda/launch.h"
#include "../cuda/layernorm_api.h"
#include "device_view.h"

namespace regcore { namespace bindings {

namespace {

void check(const DeviceView& v, const DeviceView& x, DType dt, int64_t n, bool writeable, const char* name) {
  check_view(v, dt, writeable, name);
  if (v.size() != n)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(n) + " elements, got " +
                          std::to_string(v.size()));
  if (v.device_id != x.device_id)
    throw py::value_error(std::string(name) + ": expected an array on cuda:" + std::to_string(x.device_id));
}

// A coefficient view of n elements of the data's compute dtype, on x's device.
const void* coef_ptr(const DeviceView& v, const DeviceView& x, DType dt, int64_t n, const char* name) {
  check(v, x, compute_dtype(dt), n, false, name);
  return v.data;
}

BnCoef coef(const DeviceView& x, DType dt, int64_t C, const DeviceView& mhi, const DeviceView& mlo,
                 const DeviceView& scale, const DeviceView& shift) {
  return {coef_ptr(mhi, x, dt, C, "mhi"), coef_ptr(mlo, x, dt, C, "mlo"), coef_ptr(scale, x, dt, C, "scale"),
          coef_ptr(shift, x, dt, C, "shift")};
}

// gamma/beta may be None (non-affine layer norm, pybind11 passes a null pointer): the kernels then
// use 1 and 0 per element (core/norm_coef.h), so nothing of the normalized size is allocated.
LnCoef ln_coef(const DeviceView& x, DType dt, int64_t R, int64_t L, const DeviceView& mhi,
                    const DeviceView& mlo, const DeviceView& rstd, const DeviceView* gamma, const DeviceView* beta) {
  return {coef_ptr(mhi, x, dt, R, "mhi"), coef_ptr(mlo, x, dt, R, "mlo"), coef_ptr(rstd, x, dt, R, "rstd"),
          gamma ? coef_ptr(*gamma, x, dt, L, "gamma") : nullptr, beta ? coef_ptr(*beta, x, dt, L, "beta") : nullptr};
}

// x of n elements: its dtype tag.
DType data_dtype(const DeviceView& x, int64_t n) {
  const DType dt = float_dtype(x, "x");
  check(x, x, dt, n, false, "x");
  return dt;
}

void moments(const DeviceView& x, int64_t N, int64_t C, int64_t S, const DeviceView& out) {
  const DType dt = data_dtype(x, N * C * S);
  check(out, x, DType::f64, 3 * C, true, "out");
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::bn_moments(dt, x.data, N, C, S, out.ptr<double>(), x.stream);
}

void normalize(const DeviceView& x, const DeviceView& y, int64_t N, int64_t C, int64_t S, const DeviceView& mhi,
               const DeviceView& mlo, const DeviceView& scale, const DeviceView& shift, bool relu) {
  const DType dt = data_dtype(x, N * C * S);
  check(y, x, dt, N * C * S, true, "y");
  const auto k = coef(x, dt, C, mhi, mlo, scale, shift);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::bn_normalize(dt, x.data, y.data, N, C, S, k, relu, x.stream);
}

void grad_reduce(const DeviceView& dy, const DeviceView& x, int64_t N, int64_t C, int64_t S, const DeviceView& mhi,
                 const DeviceView& mlo, const DeviceView& scale, const DeviceView& shift, bool relu,
                 const DeviceView& out) {
  const DType dt = data_dtype(x, N * C * S);
  check(dy, x, dt, N * C * S, false, "dy");
  check(out, x, DType::f64, 2 * C, true, "out");
  const auto k = coef(x, dt, C, mhi, mlo, scale, shift);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::bn_grad_reduce(dt, dy.data, x.data, N, C, S, k, relu, out.ptr<double>(), x.stream);
}

void grad_apply(const DeviceView& dy, const DeviceView& x, const DeviceView& dx, int64_t N, int64_t C, int64_t S,
                const DeviceView& mhi, const DeviceView& mlo, const DeviceView& scale, const DeviceView& shift,
                const DeviceView& ka, const DeviceView& kb, const DeviceView& kc, bool relu) {
  const DType dt = data_dtype(x, N * C * S);
  check(dy, x, dt, N * C * S, false, "dy");
  check(dx, x, dt, N * C * S, true, "dx");
  const BnGradCoef g{coef_ptr(ka, x, dt, C, "ka"), coef_ptr(kb, x, dt, C, "kb"), coef_ptr(kc, x, dt, C, "kc")};
  const auto k = coef(x, dt, C, mhi, mlo, scale, shift);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::bn_grad_apply(dt, dy.data, x.data, dx.data, N, C, S, k, g, relu, x.stream);
}

void ln_normalize(const DeviceView& x, const DeviceView& y, int64_t R, int64_t L, const DeviceView& mhi,
                  const DeviceView& mlo, const DeviceView& rstd, const DeviceView* gamma, const DeviceView* beta) {
  const DType dt = data_dtype(x, R * L);
  check(y, x, dt, R * L, true, "y");
  const auto k = ln_coef(x, dt, R, L, mhi, mlo, rstd, gamma, beta);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::ln_normalize(dt, x.data, y.data, R, L, k, x.stream);
}

void ln_grad_reduce(const DeviceView& dy, const DeviceView& x, int64_t R, int64_t L, const DeviceView& mhi,
                    const DeviceView& mlo, const DeviceView& rstd, const DeviceView* gamma, const DeviceView* beta,
                    const DeviceView& row_out, const DeviceView& col_out) {
  const DType dt = data_dtype(x, R * L);
  check(dy, x, dt, R * L, false, "dy");
  check(row_out, x, DType::f64, 2 * R, true, "row_out");
  check(col_out, x, DType::f64, 2 * L, true, "col_out");
  const auto k = ln_coef(x, dt, R, L, mhi, mlo, rstd, gamma, beta);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::ln_grad_reduce(dt, dy.data, x.data, R, L, k, row_out.ptr<double>(), col_out.ptr<double>(), x.stream);
}

void ln_grad_apply(const DeviceView& dy, const DeviceView& x, const DeviceView& dx, int64_t R, int64_t L,
                   const DeviceView& mhi, const DeviceView& mlo, const DeviceView& rstd, const DeviceView* gamma,
                   const DeviceView* beta, const DeviceView& kb, const DeviceView& kc) {
  const DType dt = data_dtype(x, R * L);
  check(dy, x, dt, R * L, false, "dy");
  check(dx, x, dt, R * L, true, "dx");
  const void* pkb = coef_ptr(kb, x, dt, R, "kb");
  const void* pkc = coef_ptr(kc, x, dt, R, "kc");
  const auto k = ln_coef(x, dt, R, L, mhi, mlo, rstd, gamma, beta);
  py::gil_scoped_release nogil;
  cuda::DeviceGuard guard(x.device_id);
  cuda::ln_grad_apply(dt, dy.data, x.data, dx.data, R, L, k, pkb, pkc, x.stream);
}

}  // namespace

void bind_batchnorm_cuda(py::module_& m) {
  m.def("bn_moments", &moments);
  m.def("bn_normalize", &normalize);
  m.def("bn_grad_reduce", &grad_reduce);
  m.def("bn_grad_apply", &grad_apply);
  // Layer norm with a per-element affine over the (R, L) view (csrc/cuda/layernorm_api.h).
  m.def("ln_normalize", &ln_normalize);
  m.def("ln_grad_reduce", &ln_grad_reduce);
  m.def("ln_grad_apply", &ln_grad_apply);
}

}}  // namespace regcore::bindings
