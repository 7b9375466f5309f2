// Batch-normalization passes and their per-channel arithmetic for NumPy arrays: dtype switch,
// size guards, pointer extraction, output allocation, GIL release. No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../cpu/batchnorm_api.h"
#include "../cpu/batchnorm_channels.h"
#include "../cpu/layernorm_api.h"
#include "array_args.h"

namespace regcore { namespace bindings {

namespace {

void check_size(const py::array& a, int64_t n, const char* name) {
  if (int64_t(a.size()) != n)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(n) + " elements, got " +
                          std::to_string(a.size()));
}

template <class T>
cpu::BnCoef<T> coef(const py::array& mhi, const py::array& mlo, const py::array& scale,
                    const py::array& shift, int64_t C) {
  check_size(mhi, C, "mhi");
  check_size(mlo, C, "mlo");
  check_size(scale, C, "scale");
  check_size(shift, C, "shift");
  return {in_ptr<T>(mhi, "mhi"), in_ptr<T>(mlo, "mlo"), in_ptr<T>(scale, "scale"), in_ptr<T>(shift, "shift")};
}

template <class T>
void moments(const py::array& x, int64_t N, int64_t C, int64_t S, py::array& out) {
  const T* px = in_ptr<T>(x, "x");
  check_size(x, N * C * S, "x");
  check_size(out, 3 * C, "out");
  double* po = out_ptr<double>(out, "out");
  py::gil_scoped_release nogil;
  cpu::bn_moments(px, N, C, S, po);
}

template <class T>
void normalize(const py::array& x, py::array& y, int64_t N, int64_t C, int64_t S, const py::array& mhi,
               const py::array& mlo, const py::array& scale, const py::array& shift, bool relu) {
  const T* px = in_ptr<T>(x, "x");
  T* py_ = out_ptr<T>(y, "y");
  check_size(x, N * C * S, "x");
  check_size(y, N * C * S, "y");
  const auto k = coef<T>(mhi, mlo, scale, shift, C);
  py::gil_scoped_release nogil;
  cpu::bn_normalize(px, py_, N, C, S, k, relu);
}

template <class T>
void grad_reduce(const py::array& dy, const py::array& x, int64_t N, int64_t C, int64_t S,
                 const py::array& mhi, const py::array& mlo, const py::array& scale, const py::array& shift,
                 bool relu, py::array& out) {
  const T* pdy = in_ptr<T>(dy, "dy");
  const T* px = in_ptr<T>(x, "x");
  check_size(dy, N * C * S, "dy");
  check_size(x, N * C * S, "x");
  check_size(out, 2 * C, "out");
  double* po = out_ptr<double>(out, "out");
  const auto k = coef<T>(mhi, mlo, scale, shift, C);
  py::gil_scoped_release nogil;
  cpu::bn_grad_reduce(pdy, px, N, C, S, k, relu, po);
}

template <class T>
void grad_apply(const py::array& dy, const py::array& x, py::array& dx, int64_t N, int64_t C, int64_t S,
                const py::array& mhi, const py::array& mlo, const py::array& scale, const py::array& shift,
                const py::array& ka, const py::array& kb, const py::array& kc, bool relu) {
  const T* pdy = in_ptr<T>(dy, "dy");
  const T* px = in_ptr<T>(x, "x");
  T* pdx = out_ptr<T>(dx, "dx");
  for (const auto* a : {&dy, &x, static_cast<const py::array*>(&dx)}) check_size(*a, N * C * S, "dy/x/dx");
  const auto k = coef<T>(mhi, mlo, scale, shift, C);
  check_size(ka, C, "ka");
  check_size(kb, C, "kb");
  check_size(kc, C, "kc");
  const cpu::BnGradCoef<T> g{in_ptr<T>(ka, "ka"), in_ptr<T>(kb, "kb"), in_ptr<T>(kc, "kc")};
  py::gil_scoped_release nogil;
  cpu::bn_grad_apply(pdy, px, pdx, N, C, S, k, g, relu);
}

template <class T>
cpu::LnCoef<T> ln_coef(const py::array& mhi, const py::array& mlo, const py::array& rstd,
                       const py::array& gamma, const py::array& beta, int64_t R, int64_t L) {
  check_size(mhi, R, "mhi");
  check_size(mlo, R, "mlo");
  check_size(rstd, R, "rstd");
  check_size(gamma, L, "gamma");
  check_size(beta, L, "beta");
  return {in_ptr<T>(mhi, "mhi"), in_ptr<T>(mlo, "mlo"), in_ptr<T>(rstd, "rstd"), in_ptr<T>(gamma, "gamma"),
          in_ptr<T>(beta, "beta")};
}

template <class T>
void ln_normalize(const py::array& x, py::array& y, int64_t R, int64_t L, const py::array& mhi,
                  const py::array& mlo, const py::array& rstd, const py::array& gamma, const py::array& beta) {
  const T* px = in_ptr<T>(x, "x");
  T* py_ = out_ptr<T>(y, "y");
  check_size(x, R * L, "x");
  check_size(y, R * L, "y");
  const auto k = ln_coef<T>(mhi, mlo, rstd, gamma, beta, R, L);
  py::gil_scoped_release nogil;
  cpu::ln_normalize(px, py_, R, L, k);
}

template <class T>
void ln_grad_reduce(const py::array& dy, const py::array& x, int64_t R, int64_t L, const py::array& mhi,
                    const py::array& mlo, const py::array& rstd, const py::array& gamma,
                    const py::array& beta, py::array& row_out, py::array& col_out) {
  const T* pdy = in_ptr<T>(dy, "dy");
  const T* px = in_ptr<T>(x, "x");
  check_size(dy, R * L, "dy");
  check_size(x, R * L, "x");
  check_size(row_out, 2 * R, "row_out");
  check_size(col_out, 2 * L, "col_out");
  double* pr = out_ptr<double>(row_out, "row_out");
  double* pc = out_ptr<double>(col_out, "col_out");
  const auto k = ln_coef<T>(mhi, mlo, rstd, gamma, beta, R, L);
  py::gil_scoped_release nogil;
  cpu::ln_grad_reduce(pdy, px, R, L, k, pr, pc);
}

template <class T>
void ln_grad_apply(const py::array& dy, const py::array& x, py::array& dx, int64_t R, int64_t L,
                   const py::array& mhi, const py::array& mlo, const py::array& rstd, const py::array& gamma,
                   const py::array& beta, const py::array& kb, const py::array& kc) {
  const T* pdy = in_ptr<T>(dy, "dy");
  const T* px = in_ptr<T>(x, "x");
  T* pdx = out_ptr<T>(dx, "dx");
  for (const auto* a : {&dy, &x, static_cast<const py::array*>(&dx)}) check_size(*a, R * L, "dy/x/dx");
  const auto k = ln_coef<T>(mhi, mlo, rstd, gamma, beta, R, L);
  check_size(kb, R, "kb");
  check_size(kc, R, "kc");
  const T* pkb = in_ptr<T>(kb, "kb");
  const T* pkc = in_ptr<T>(kc, "kc");
  py::gil_scoped_release nogil;
  cpu::ln_grad_apply(pdy, px, pdx, R, L, k, pkb, pkc);
}

// An optional per-channel vector (gamma / beta): null for None.
template <class T> const T* optional_in(const py::object& a, int64_t C, const char* name) {
  if (a.is_none()) return nullptr;
  if (!py::isinstance<py::array>(a)) throw py::type_error(std::string(name) + ": expected an array or None");
  const auto arr = py::reinterpret_borrow<py::array>(a);
  const T* p = in_ptr<T>(arr, name);
  check_size(arr, C, name);
  return p;
}

template <class T>
py::tuple coefficients(const py::array& mean, const py::array& var, const py::object& gamma, const py::object& beta,
                       double eps) {
  const int64_t C = int64_t(mean.size());
  check_size(var, C, "var");
  const double* pm = in_ptr<double>(mean, "mean");
  const double* pv = in_ptr<double>(var, "var");
  const T* pg = optional_in<T>(gamma, C, "gamma");
  const T* pb = optional_in<T>(beta, C, "beta");
  py::array_t<double> rstd(C);
  py::array_t<T> mhi(C), mlo(C), scale(C), shift(C);
  cpu::bn_coefficients<T>(C, pm, pv, pg, pb, eps, rstd.mutable_data(), mhi.mutable_data(), mlo.mutable_data(),
                          scale.mutable_data(), shift.mutable_data());
  return py::make_tuple(rstd, mhi, mlo, scale, shift);
}

template <class T> void running_update(py::array& run, const py::array& batch, double factor) {
  const int64_t C = int64_t(run.size());
  check_size(batch, C, "batch");
  cpu::bn_running_update<T>(C, out_ptr<T>(run, "running"), in_ptr<double>(batch, "batch"), factor);
}

template <class T>
py::tuple grad_coefficients(const py::array& rstd, const py::object& gamma, const py::array& red, double count,
                            bool batch_stats) {
  const int64_t C = int64_t(rstd.size());
  check_size(red, 2 * C, "red");
  const T* pg = optional_in<T>(gamma, C, "gamma");
  py::array_t<T> ka(C), kb(C), kc(C);
  py::array_t<double> dgamma(C), dbeta(C);
  cpu::bn_grad_coefficients<T>(C, in_ptr<double>(rstd, "rstd"), pg, in_ptr<double>(red, "red"), count, batch_stats,
                               ka.mutable_data(), kb.mutable_data(), kc.mutable_data(), dgamma.mutable_data(),
                               dbeta.mutable_data());
  return py::make_tuple(ka, kb, kc, dgamma, dbeta);
}

bool is_float32(const py::object& dtype) { return py::dtype::from_args(dtype).is(py::dtype::of<float>()); }
bool is_float64(const py::object& dtype) { return py::dtype::from_args(dtype).is(py::dtype::of<double>()); }
[[noreturn]] void unsupported(const py::object& dtype) {
  throw py::type_error("dtype: unsupported " + std::string(py::str(dtype)) + " (expected float32 or float64)");
}

}  // namespace

void bind_batchnorm_cpu(py::module_& m) {
  // Per-channel arithmetic between the passes (csrc/cpu/batchnorm_channels.h), with the signatures
  // of its Array API twin in python/regcore/_norm_stats.py.
  m.def("bn_coefficients", [](const py::array& mean, const py::array& var, const py::object& gamma,
                              const py::object& beta, double eps, const py::object& dtype) {
    if (is_float32(dtype)) return coefficients<float>(mean, var, gamma, beta, eps);
    if (is_float64(dtype)) return coefficients<double>(mean, var, gamma, beta, eps);
    unsupported(dtype);
  }, py::arg("mean").noconvert(), py::arg("var").noconvert(), py::arg("gamma"), py::arg("beta"), py::arg("eps"),
     py::arg("dtype"));

  m.def("bn_running_update", [](py::array run, const py::array& batch, double factor, const py::object& dtype) {
    if (is_float32(dtype)) running_update<float>(run, batch, factor);
    else if (is_float64(dtype)) running_update<double>(run, batch, factor);
    else unsupported(dtype);
  }, py::arg("run").noconvert(), py::arg("batch").noconvert(), py::arg("factor"), py::arg("dtype"));

  m.def("bn_grad_coefficients", [](const py::array& rstd, const py::object& gamma, const py::array& red, double count,
                                   bool batch_stats, const py::object& dtype) {
    if (is_float32(dtype)) return grad_coefficients<float>(rstd, gamma, red, count, batch_stats);
    if (is_float64(dtype)) return grad_coefficients<double>(rstd, gamma, red, count, batch_stats);
    unsupported(dtype);
  }, py::arg("rstd").noconvert(), py::arg("gamma"), py::arg("red").noconvert(), py::arg("count"),
     py::arg("batch_stats"), py::arg("dtype"));

  m.def("bn_moments", [](const py::array& x, int64_t N, int64_t C, int64_t S, py::array out) {
    if (is_dtype<float>(x)) moments<float>(x, N, C, S, out);
    else if (is_dtype<double>(x)) moments<double>(x, N, C, S, out);
    else unsupported_dtype(x, "x");
  }, py::arg("x").noconvert(), py::arg("N"), py::arg("C"), py::arg("S"), py::arg("out").noconvert());

  m.def("bn_normalize", [](const py::array& x, py::array y, int64_t N, int64_t C, int64_t S,
                           const py::array& mhi, const py::array& mlo, const py::array& scale,
                           const py::array& shift, bool relu) {
    if (is_dtype<float>(x)) normalize<float>(x, y, N, C, S, mhi, mlo, scale, shift, relu);
    else if (is_dtype<double>(x)) normalize<double>(x, y, N, C, S, mhi, mlo, scale, shift, relu);
    else unsupported_dtype(x, "x");
  }, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("N"), py::arg("C"), py::arg("S"),
     py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("scale").noconvert(),
     py::arg("shift").noconvert(), py::arg("relu"));

  m.def("bn_grad_reduce", [](const py::array& dy, const py::array& x, int64_t N, int64_t C, int64_t S,
                             const py::array& mhi, const py::array& mlo, const py::array& scale,
                             const py::array& shift, bool relu, py::array out) {
    if (is_dtype<float>(x)) grad_reduce<float>(dy, x, N, C, S, mhi, mlo, scale, shift, relu, out);
    else if (is_dtype<double>(x)) grad_reduce<double>(dy, x, N, C, S, mhi, mlo, scale, shift, relu, out);
    else unsupported_dtype(x, "x");
  }, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("N"), py::arg("C"), py::arg("S"),
     py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("scale").noconvert(),
     py::arg("shift").noconvert(), py::arg("relu"), py::arg("out").noconvert());

  m.def("bn_grad_apply", [](const py::array& dy, const py::array& x, py::array dx, int64_t N, int64_t C,
                            int64_t S, const py::array& mhi, const py::array& mlo, const py::array& scale,
                            const py::array& shift, const py::array& ka, const py::array& kb,
                            const py::array& kc, bool relu) {
    if (is_dtype<float>(x)) grad_apply<float>(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu);
    else if (is_dtype<double>(x)) grad_apply<double>(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu);
    else unsupported_dtype(x, "x");
  }, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("dx").noconvert(), py::arg("N"),
     py::arg("C"), py::arg("S"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(),
     py::arg("scale").noconvert(), py::arg("shift").noconvert(), py::arg("ka").noconvert(),
     py::arg("kb").noconvert(), py::arg("kc").noconvert(), py::arg("relu"));

  // Layer norm with a per-element affine over the (R, L) view (csrc/cpu/layernorm_api.h).
  m.def("ln_normalize", [](const py::array& x, py::array y, int64_t R, int64_t L, const py::array& mhi,
                           const py::array& mlo, const py::array& rstd, const py::array& gamma,
                           const py::array& beta) {
    if (is_dtype<float>(x)) ln_normalize<float>(x, y, R, L, mhi, mlo, rstd, gamma, beta);
    else if (is_dtype<double>(x)) ln_normalize<double>(x, y, R, L, mhi, mlo, rstd, gamma, beta);
    else unsupported_dtype(x, "x");
  }, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("R"), py::arg("L"),
     py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("rstd").noconvert(),
     py::arg("gamma").noconvert(), py::arg("beta").noconvert());

  m.def("ln_grad_reduce", [](const py::array& dy, const py::array& x, int64_t R, int64_t L,
                             const py::array& mhi, const py::array& mlo, const py::array& rstd,
                             const py::array& gamma, const py::array& beta, py::array row_out,
                             py::array col_out) {
    if (is_dtype<float>(x)) ln_grad_reduce<float>(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out);
    else if (is_dtype<double>(x)) ln_grad_reduce<double>(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out);
    else unsupported_dtype(x, "x");
  }, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("R"), py::arg("L"),
     py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("rstd").noconvert(),
     py::arg("gamma").noconvert(), py::arg("beta").noconvert(), py::arg("row_out").noconvert(),
     py::arg("col_out").noconvert());

  m.def("ln_grad_apply", [](const py::array& dy, const py::array& x, py::array dx, int64_t R, int64_t L,
                            const py::array& mhi, const py::array& mlo, const py::array& rstd,
                            const py::array& gamma, const py::array& beta, const py::array& kb,
                            const py::array& kc) {
    if (is_dtype<float>(x)) ln_grad_apply<float>(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc);
    else if (is_dtype<double>(x)) ln_grad_apply<double>(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc);
    else unsupported_dtype(x, "x");
  }, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("dx").noconvert(), py::arg("R"),
     py::arg("L"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("rstd").noconvert(),
     py::arg("gamma").noconvert(), py::arg("beta").noconvert(), py::arg("kb").noconvert(),
     py::arg("kc").noconvert());
}

}}  // namespace regcore::bindings
