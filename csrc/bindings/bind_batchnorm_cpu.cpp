// Batch-normalization passes and their per-channel arithmetic for NumPy arrays: dtype tags, size
// guards, pointer extraction, output allocation, GIL release. No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../cpu/batchnorm_api.h"
#include "../cpu/batchnorm_step.h"
#include "../cpu/batchnorm_channels.h"
#include "../cpu/groupnorm_channels.h"
#include "../cpu/groupnorm_step.h"
#include "../cpu/layernorm_api.h"
#include "../cpu/layernorm_step.h"
#include "array_args.h"

namespace regcore { namespace bindings {

namespace {

void check_size(const py::array& a, int64_t n, const char* name) {
  if (int64_t(a.size()) != n)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(n) + " elements, got " +
                          std::to_string(a.size()));
}

// A per-channel / per-row coefficient array of length n in dtype cd.
const void* coef_ptr(const py::array& a, DType cd, int64_t n, const char* name) {
  check_size(a, n, name);
  return in_ptr(a, cd, name);
}

cpu::BnCoef coef(DType dt, const py::array& mhi, const py::array& mlo, const py::array& scale,
                 const py::array& shift, int64_t C) {
  const DType cd = compute_dtype(dt);
  return {coef_ptr(mhi, cd, C, "mhi"), coef_ptr(mlo, cd, C, "mlo"), coef_ptr(scale, cd, C, "scale"),
          coef_ptr(shift, cd, C, "shift")};
}

// x (and dy) of n elements: their common dtype tag.
DType data_dtype(const py::array& x, int64_t n) {
  const DType dt = float_dtype(x, "x");
  check_size(x, n, "x");
  return dt;
}

void moments(const py::array& x, int64_t N, int64_t C, int64_t S, py::array out) {
  const DType dt = data_dtype(x, N * C * S);
  const void* px = in_ptr(x, dt, "x");
  check_size(out, 3 * C, "out");
  double* po = out_ptr<double>(out, "out");
  py::gil_scoped_release nogil;
  cpu::bn_moments(dt, px, N, C, S, po);
}

void normalize(const py::array& x, py::array y, int64_t N, int64_t C, int64_t S, const py::array& mhi,
               const py::array& mlo, const py::array& scale, const py::array& shift, bool relu) {
  const DType dt = data_dtype(x, N * C * S);
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_size(y, N * C * S, "y");
  const auto k = coef(dt, mhi, mlo, scale, shift, C);
  py::gil_scoped_release nogil;
  cpu::bn_normalize(dt, px, py_, N, C, S, k, relu);
}

void grad_reduce(const py::array& dy, const py::array& x, int64_t N, int64_t C, int64_t S, const py::array& mhi,
                 const py::array& mlo, const py::array& scale, const py::array& shift, bool relu, py::array out) {
  const DType dt = data_dtype(x, N * C * S);
  const void* pdy = in_ptr(dy, dt, "dy");
  const void* px = in_ptr(x, dt, "x");
  check_size(dy, N * C * S, "dy");
  check_size(out, 2 * C, "out");
  double* po = out_ptr<double>(out, "out");
  const auto k = coef(dt, mhi, mlo, scale, shift, C);
  py::gil_scoped_release nogil;
  cpu::bn_grad_reduce(dt, pdy, px, N, C, S, k, relu, po);
}

void grad_apply(const py::array& dy, const py::array& x, py::array dx, int64_t N, int64_t C, int64_t S,
                const py::array& mhi, const py::array& mlo, const py::array& scale, const py::array& shift,
                const py::array& ka, const py::array& kb, const py::array& kc, bool relu) {
  const DType dt = data_dtype(x, N * C * S);
  const void* pdy = in_ptr(dy, dt, "dy");
  const void* px = in_ptr(x, dt, "x");
  void* pdx = out_ptr(dx, dt, "dx");
  for (const auto* a : {&dy, &x, static_cast<const py::array*>(&dx)}) check_size(*a, N * C * S, "dy/x/dx");
  const auto k = coef(dt, mhi, mlo, scale, shift, C);
  const DType cd = compute_dtype(dt);
  const cpu::BnGradCoef g{coef_ptr(ka, cd, C, "ka"), coef_ptr(kb, cd, C, "kb"), coef_ptr(kc, cd, C, "kc")};
  py::gil_scoped_release nogil;
  cpu::bn_grad_apply(dt, pdy, px, pdx, N, C, S, k, g, relu);
}

// gamma/beta may be None (non-affine layer norm): the kernels then use 1 and 0 per element
// instead of reading arrays of the normalized size (kernels/layernorm.cpp).
cpu::LnCoef ln_coef(DType dt, const py::array& mhi, const py::array& mlo, const py::array& rstd,
                    const py::object& gamma, const py::object& beta, int64_t R, int64_t L) {
  const DType cd = compute_dtype(dt);
  const void* pg = gamma.is_none() ? nullptr : coef_ptr(py::cast<py::array>(gamma), cd, L, "gamma");
  const void* pb = beta.is_none() ? nullptr : coef_ptr(py::cast<py::array>(beta), cd, L, "beta");
  return {coef_ptr(mhi, cd, R, "mhi"), coef_ptr(mlo, cd, R, "mlo"), coef_ptr(rstd, cd, R, "rstd"), pg, pb};
}

void ln_normalize(const py::array& x, py::array y, int64_t R, int64_t L, const py::array& mhi,
                  const py::array& mlo, const py::array& rstd, const py::object& gamma, const py::object& beta) {
  const DType dt = data_dtype(x, R * L);
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_size(y, R * L, "y");
  const auto k = ln_coef(dt, mhi, mlo, rstd, gamma, beta, R, L);
  py::gil_scoped_release nogil;
  cpu::ln_normalize(dt, px, py_, R, L, k);
}

void ln_grad_reduce(const py::array& dy, const py::array& x, int64_t R, int64_t L, const py::array& mhi,
                    const py::array& mlo, const py::array& rstd, const py::object& gamma, const py::object& beta,
                    py::array row_out, py::array col_out) {
  const DType dt = data_dtype(x, R * L);
  const void* pdy = in_ptr(dy, dt, "dy");
  const void* px = in_ptr(x, dt, "x");
  check_size(dy, R * L, "dy");
  check_size(row_out, 2 * R, "row_out");
  check_size(col_out, 2 * L, "col_out");
  double* pr = out_ptr<double>(row_out, "row_out");
  double* pc = out_ptr<double>(col_out, "col_out");
  const auto k = ln_coef(dt, mhi, mlo, rstd, gamma, beta, R, L);
  py::gil_scoped_release nogil;
  cpu::ln_grad_reduce(dt, pdy, px, R, L, k, pr, pc);
}

void ln_grad_apply(const py::array& dy, const py::array& x, py::array dx, int64_t R, int64_t L,
                   const py::array& mhi, const py::array& mlo, const py::array& rstd, const py::object& gamma,
                   const py::object& beta, const py::array& kb, const py::array& kc) {
  const DType dt = data_dtype(x, R * L);
  const void* pdy = in_ptr(dy, dt, "dy");
  const void* px = in_ptr(x, dt, "x");
  void* pdx = out_ptr(dx, dt, "dx");
  for (const auto* a : {&dy, &x, static_cast<const py::array*>(&dx)}) check_size(*a, R * L, "dy/x/dx");
  const auto k = ln_coef(dt, mhi, mlo, rstd, gamma, beta, R, L);
  const DType cd = compute_dtype(dt);
  const void* pkb = coef_ptr(kb, cd, R, "kb");
  const void* pkc = coef_ptr(kc, cd, R, "kc");
  py::gil_scoped_release nogil;
  cpu::ln_grad_apply(dt, pdy, px, pdx, R, L, k, pkb, pkc);
}

// An optional per-channel vector (gamma / beta): null for None. Its dtype is its own (the data's,
// or float32 with 16-bit data: the Python layer checked the combination), returned in pdt; the
// two vectors of one call share it.
const void* optional_in(const py::object& a, DType& pdt, int64_t C, const char* name) {
  if (a.is_none()) return nullptr;
  if (!py::isinstance<py::array>(a)) throw py::type_error(std::string(name) + ": expected an array or None");
  const auto arr = py::reinterpret_borrow<py::array>(a);
  pdt = float_dtype(arr, name);
  const void* p = in_ptr(arr, pdt, name);
  check_size(arr, C, name);
  return p;
}

py::array new_array(DType dt, int64_t n) {
  // dt is a compute dtype (per-channel arrays): float32 or float64
  return visit_dtype_f32_f64(dt, [n](auto t) -> py::array { return py::array_t<REGCORE_TAG_TYPE(t)>(n); });
}

py::tuple coefficients(const py::array& mean, const py::array& var, const py::object& gamma, const py::object& beta,
                       double eps, const py::object& dtype) {
  const DType dt = float_dtype(dtype, "dtype");
  const DType cd = compute_dtype(dt);
  const int64_t C = int64_t(mean.size());
  check_size(var, C, "var");
  const double* pm = in_ptr<double>(mean, "mean");
  const double* pv = in_ptr<double>(var, "var");
  DType pg_dt = dt, pb_dt = dt;
  const void* pg = optional_in(gamma, pg_dt, C, "gamma");
  const void* pb = optional_in(beta, pb_dt, C, "beta");
  if (pg && pb && pg_dt != pb_dt) throw py::type_error("gamma, beta: expected one dtype for both");
  py::array_t<double> rstd(C);
  py::array mhi = new_array(cd, C), mlo = new_array(cd, C), scale = new_array(cd, C), shift = new_array(cd, C);
  cpu::bn_coefficients(dt, C, pm, pv, pg ? pg_dt : pb_dt, pg, pb, eps, rstd.mutable_data(), mhi.mutable_data(), mlo.mutable_data(),
                       scale.mutable_data(), shift.mutable_data());
  return py::make_tuple(rstd, mhi, mlo, scale, shift);
}

void running_update(py::array run, const py::array& batch, double factor, const py::object& dtype) {
  (void)dtype;  // run's own dtype (the data's, or float32 with 16-bit data), from the array itself
  const DType dt = float_dtype(run, "running");
  const int64_t C = int64_t(run.size());
  check_size(batch, C, "batch");
  void* pr = out_ptr(run, dt, "running");
  cpu::bn_running_update(dt, C, pr, in_ptr<double>(batch, "batch"), factor);
}

py::tuple grad_coefficients(const py::array& rstd, const py::object& gamma, const py::array& red, double count,
                            bool batch_stats, const py::object& dtype) {
  const DType dt = float_dtype(dtype, "dtype");
  const DType cd = compute_dtype(dt);
  const int64_t C = int64_t(rstd.size());
  check_size(red, 2 * C, "red");
  DType pdt = dt;
  const void* pg = optional_in(gamma, pdt, C, "gamma");
  py::array ka = new_array(cd, C), kb = new_array(cd, C), kc = new_array(cd, C);
  py::array_t<double> dgamma(C), dbeta(C);
  cpu::bn_grad_coefficients(dt, C, in_ptr<double>(rstd, "rstd"), pdt, pg, in_ptr<double>(red, "red"), count,
                            batch_stats, ka.mutable_data(), kb.mutable_data(), kc.mutable_data(),
                            dgamma.mutable_data(), dbeta.mutable_data());
  return py::make_tuple(ka, kb, kc, dgamma, dbeta);
}

// (N, C, G) of group norm: G a divisor of C, or G = C = 0 (instance norm of no channels).
void check_groups(int64_t N, int64_t C, int64_t G) {
  if (N < 0 || C < 0) throw py::value_error("N, C: expected sizes >= 0");
  if (!(G == 0 && C == 0) && (G < 1 || C % G != 0)) throw py::value_error("groups: expected a divisor of the channels");
}

// The statistics of group norm: per (sample, group), or per channel when they are constants.
int64_t group_stats_size(int64_t N, int64_t C, int64_t G, bool batch_stats) { return batch_stats ? N * G : C; }

py::tuple gn_grad_coefficients(const py::array& rstd, const py::object& gamma, const py::array& red, int64_t N,
                               int64_t C, int64_t G, double count, bool batch_stats, const py::object& dtype) {
  const DType dt = float_dtype(dtype, "dtype");
  const DType cd = compute_dtype(dt);
  check_groups(N, C, G);
  check_size(rstd, group_stats_size(N, C, G, batch_stats), "rstd");
  check_size(red, 2 * N * C, "red");
  DType pdt = dt;
  const void* pg = optional_in(gamma, pdt, C, "gamma");
  py::array ka = new_array(cd, N * C), kb = new_array(cd, N * C), kc = new_array(cd, N * C);
  py::array_t<double> dgamma(C), dbeta(C);
  cpu::gn_grad_coefficients(dt, N, C, G, in_ptr<double>(rstd, "rstd"), pdt, pg, in_ptr<double>(red, "red"), count,
                            batch_stats, ka.mutable_data(), kb.mutable_data(), kc.mutable_data(),
                            dgamma.mutable_data(), dbeta.mutable_data());
  return py::make_tuple(ka, kb, kc, dgamma, dbeta);
}

// ---- one call per pass (cpu/batchnorm_step.h, layernorm_step.h, groupnorm_step.h): every output is the caller's

// An optional per-channel / per-element vector written in place (running statistics): null for
// None, its dtype in rdt.
void* optional_out(const py::object& a, DType& rdt, int64_t n, const char* name) {
  if (a.is_none()) return nullptr;
  if (!py::isinstance<py::array>(a)) throw py::type_error(std::string(name) + ": expected an array or None");
  auto arr = py::reinterpret_borrow<py::array>(a);
  rdt = float_dtype(arr, name);
  void* p = out_ptr(arr, rdt, name);
  check_size(arr, n, name);
  return p;
}

// gamma / beta of n values each (or None): their one dtype (x's when both are None).
DType param_pair(const py::object& gamma, const py::object& beta, DType dt, int64_t n, const void*& pg,
                 const void*& pb) {
  DType pg_dt = dt, pb_dt = dt;
  pg = optional_in(gamma, pg_dt, n, "gamma");
  pb = optional_in(beta, pb_dt, n, "beta");
  if (pg && pb && pg_dt != pb_dt) throw py::type_error("gamma, beta: expected one dtype for both");
  return pg ? pg_dt : pb_dt;
}

double* stat_out(py::array& a, int64_t n, const char* name) {
  check_size(a, n, name);
  return out_ptr<double>(a, name);
}

void bn_forward(const py::array& x, py::array y, int64_t N, int64_t C, int64_t S, const py::object& gamma,
                const py::object& beta, const py::object& running_mean, const py::object& running_var, double eps,
                bool batch_stats, double factor, bool relu, py::array mean, py::array var) {
  const DType dt = data_dtype(x, N * C * S);
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_size(y, N * C * S, "y");
  const void *pg, *pb;
  const DType pdt = param_pair(gamma, beta, dt, C, pg, pb);
  DType rm_dt = dt, rv_dt = dt;
  void* prm = optional_out(running_mean, rm_dt, C, "running_mean");
  void* prv = optional_out(running_var, rv_dt, C, "running_var");
  if (!prm != !prv || rm_dt != rv_dt)
    throw py::value_error("running_mean, running_var: expected both (of one dtype) or neither");
  if (!batch_stats && !prm) throw py::value_error("running_mean: expected an array without batch statistics");
  double* pm = stat_out(mean, C, "mean");
  double* pv = stat_out(var, C, "var");
  py::gil_scoped_release nogil;
  cpu::bn_forward(dt, px, py_, N, C, S, pdt, pg, pb, eps, relu, batch_stats, rm_dt, prm, prv, factor, pm, pv);
}

// The arguments batch norm's and group norm's one-call backward share (dy, x, dx of one dtype and
// size; per-channel parameters and their optional gradients of one parameter dtype; float64 saved
// statistics of n_stats values), checked and read before the GIL is released.
struct ChannelBackwardArgs {
  DType dt, pdt;
  const void *dy, *x, *gamma, *beta;
  void *dx, *dgamma, *dbeta;
  const double *mean, *var;
};

ChannelBackwardArgs channel_backward_args(const py::array& dy, const py::array& x, py::array& dx, int64_t n,
                                          const py::object& gamma, const py::object& beta, int64_t C,
                                          const py::array& mean, const py::array& var, int64_t n_stats,
                                          const py::object& dgamma, const py::object& dbeta) {
  ChannelBackwardArgs a;
  a.dt = data_dtype(x, n);
  a.dy = in_ptr(dy, a.dt, "dy");
  a.x = in_ptr(x, a.dt, "x");
  a.dx = out_ptr(dx, a.dt, "dx");
  for (const auto* arr : {&dy, static_cast<const py::array*>(&dx)}) check_size(*arr, n, "dy/dx");
  a.pdt = param_pair(gamma, beta, a.dt, C, a.gamma, a.beta);
  check_size(mean, n_stats, "mean");
  check_size(var, n_stats, "var");
  DType g_dt = a.pdt, b_dt = a.pdt;
  a.dgamma = optional_out(dgamma, g_dt, C, "dgamma");
  a.dbeta = optional_out(dbeta, b_dt, C, "dbeta");
  if (g_dt != a.pdt || b_dt != a.pdt) throw py::type_error("dgamma, dbeta: expected the parameters' dtype");
  a.mean = in_ptr<double>(mean, "mean");
  a.var = in_ptr<double>(var, "var");
  return a;
}

void bn_backward(const py::array& dy, const py::array& x, py::array dx, int64_t N, int64_t C, int64_t S,
                 const py::object& gamma, const py::object& beta, const py::array& mean, const py::array& var,
                 double eps, double count, bool batch_stats, bool relu, const py::object& dgamma,
                 const py::object& dbeta) {
  const ChannelBackwardArgs a = channel_backward_args(dy, x, dx, N * C * S, gamma, beta, C, mean, var, C,
                                                      dgamma, dbeta);
  py::gil_scoped_release nogil;
  cpu::bn_backward(a.dt, a.dy, a.x, a.dx, N, C, S, a.pdt, a.gamma, a.beta, a.mean, a.var, eps, count, batch_stats,
                   relu, a.dgamma, a.dbeta);
}

void ln_forward(const py::array& x, py::array y, int64_t R, int64_t L, const py::object& gamma,
                const py::object& beta, double eps, py::array mean, py::array var) {
  const DType dt = data_dtype(x, R * L);
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_size(y, R * L, "y");
  const void *pg, *pb;
  const DType pdt = param_pair(gamma, beta, dt, L, pg, pb);
  double* pm = stat_out(mean, R, "mean");
  double* pv = stat_out(var, R, "var");
  py::gil_scoped_release nogil;
  cpu::ln_forward(dt, px, py_, R, L, pdt, pg, pb, eps, pm, pv);
}

void ln_backward(const py::array& dy, const py::array& x, py::array dx, int64_t R, int64_t L,
                 const py::object& gamma, const py::object& beta, const py::array& mean, const py::array& var,
                 double eps, const py::object& dgamma, const py::object& dbeta) {
  const DType dt = data_dtype(x, R * L);
  const void* pdy = in_ptr(dy, dt, "dy");
  const void* px = in_ptr(x, dt, "x");
  void* pdx = out_ptr(dx, dt, "dx");
  for (const auto* a : {&dy, static_cast<const py::array*>(&dx)}) check_size(*a, R * L, "dy/dx");
  const void *pg, *pb;
  const DType pdt = param_pair(gamma, beta, dt, L, pg, pb);
  check_size(mean, R, "mean");
  check_size(var, R, "var");
  DType g_dt = pdt, b_dt = pdt;
  void* pdg = optional_out(dgamma, g_dt, L, "dgamma");
  void* pdb = optional_out(dbeta, b_dt, L, "dbeta");
  if (g_dt != pdt || b_dt != pdt) throw py::type_error("dgamma, dbeta: expected the parameters' dtype");
  const double* pm = in_ptr<double>(mean, "mean");
  const double* pv = in_ptr<double>(var, "var");
  py::gil_scoped_release nogil;
  cpu::ln_backward(dt, pdy, px, pdx, R, L, pdt, pg, pb, pm, pv, eps, pdg, pdb);
}


void gn_forward(const py::array& x, py::array y, int64_t N, int64_t C, int64_t G, int64_t S, const py::object& gamma,
                const py::object& beta, double eps, py::array mean, py::array var) {
  const DType dt = data_dtype(x, N * C * S);
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_size(y, N * C * S, "y");
  check_groups(N, C, G);
  const void *pg, *pb;
  const DType pdt = param_pair(gamma, beta, dt, C, pg, pb);
  double* pm = stat_out(mean, N * G, "mean");
  double* pv = stat_out(var, N * G, "var");
  py::gil_scoped_release nogil;
  cpu::gn_forward(dt, px, py_, N, C, G, S, pdt, pg, pb, eps, pm, pv);
}

void in_forward_running(const py::array& x, py::array y, int64_t N, int64_t C, int64_t S, const py::object& gamma,
                        const py::object& beta, const py::object& running_mean, const py::object& running_var,
                        double eps, py::array mean, py::array var) {
  const DType dt = data_dtype(x, N * C * S);
  const void* px = in_ptr(x, dt, "x");
  void* py_ = out_ptr(y, dt, "y");
  check_size(y, N * C * S, "y");
  const void *pg, *pb, *prm, *prv;
  const DType pdt = param_pair(gamma, beta, dt, C, pg, pb);
  const DType rdt = param_pair(running_mean, running_var, dt, C, prm, prv);
  if (!prm || !prv) throw py::value_error("running_mean, running_var: expected both arrays");
  double* pm = stat_out(mean, C, "mean");
  double* pv = stat_out(var, C, "var");
  py::gil_scoped_release nogil;
  cpu::in_forward_running(dt, px, py_, N, C, S, pdt, pg, pb, rdt, prm, prv, eps, pm, pv);
}

void gn_backward(const py::array& dy, const py::array& x, py::array dx, int64_t N, int64_t C, int64_t G, int64_t S,
                 const py::object& gamma, const py::object& beta, const py::array& mean, const py::array& var,
                 double eps, bool batch_stats, const py::object& dgamma, const py::object& dbeta) {
  check_groups(N, C, G);
  const ChannelBackwardArgs a = channel_backward_args(dy, x, dx, N * C * S, gamma, beta, C, mean, var,
                                                      group_stats_size(N, C, G, batch_stats), dgamma, dbeta);
  py::gil_scoped_release nogil;
  cpu::gn_backward(a.dt, a.dy, a.x, a.dx, N, C, G, S, a.pdt, a.gamma, a.beta, a.mean, a.var, eps, batch_stats,
                   a.dgamma, a.dbeta);
}

}  // namespace

void bind_batchnorm_cpu(py::module_& m) {
  // Per-channel arithmetic between the passes (csrc/cpu/batchnorm_channels.h), with the signatures
  // of its Array API twin in python/regcore/_norm_stats.py.
  m.def("bn_coefficients", &coefficients, py::arg("mean").noconvert(), py::arg("var").noconvert(),
        py::arg("gamma"), py::arg("beta"), py::arg("eps"), py::arg("dtype"));
  m.def("bn_running_update", &running_update, py::arg("run").noconvert(), py::arg("batch").noconvert(),
        py::arg("factor"), py::arg("dtype"));
  m.def("bn_grad_coefficients", &grad_coefficients, py::arg("rstd").noconvert(), py::arg("gamma"),
        py::arg("red").noconvert(), py::arg("count"), py::arg("batch_stats"), py::arg("dtype"));
  // Group norm's (instance norm's) per-(sample, channel) backward arithmetic
  // (csrc/cpu/groupnorm_channels.h), with the signature of _norm_stats.group_grad_coefficients.
  m.def("gn_grad_coefficients", &gn_grad_coefficients, py::arg("rstd").noconvert(), py::arg("gamma"),
        py::arg("red").noconvert(), py::arg("N"), py::arg("C"), py::arg("G"), py::arg("count"),
        py::arg("batch_stats"), py::arg("dtype"));

  m.def("bn_moments", &moments, py::arg("x").noconvert(), py::arg("N"), py::arg("C"), py::arg("S"),
        py::arg("out").noconvert());
  m.def("bn_normalize", &normalize, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("N"), py::arg("C"),
        py::arg("S"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("scale").noconvert(),
        py::arg("shift").noconvert(), py::arg("relu"));
  m.def("bn_grad_reduce", &grad_reduce, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("N"),
        py::arg("C"), py::arg("S"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(),
        py::arg("scale").noconvert(), py::arg("shift").noconvert(), py::arg("relu"), py::arg("out").noconvert());
  m.def("bn_grad_apply", &grad_apply, py::arg("dy").noconvert(), py::arg("x").noconvert(),
        py::arg("dx").noconvert(), py::arg("N"), py::arg("C"), py::arg("S"), py::arg("mhi").noconvert(),
        py::arg("mlo").noconvert(), py::arg("scale").noconvert(), py::arg("shift").noconvert(),
        py::arg("ka").noconvert(), py::arg("kb").noconvert(), py::arg("kc").noconvert(), py::arg("relu"));

  // Layer norm with a per-element affine over the (R, L) view (csrc/cpu/layernorm_api.h).
  m.def("ln_normalize", &ln_normalize, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("R"),
        py::arg("L"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("rstd").noconvert(),
        py::arg("gamma").noconvert(), py::arg("beta").noconvert());
  m.def("ln_grad_reduce", &ln_grad_reduce, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("R"),
        py::arg("L"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(), py::arg("rstd").noconvert(),
        py::arg("gamma").noconvert(), py::arg("beta").noconvert(), py::arg("row_out").noconvert(),
        py::arg("col_out").noconvert());
  m.def("ln_grad_apply", &ln_grad_apply, py::arg("dy").noconvert(), py::arg("x").noconvert(),
        py::arg("dx").noconvert(), py::arg("R"), py::arg("L"), py::arg("mhi").noconvert(), py::arg("mlo").noconvert(),
        py::arg("rstd").noconvert(), py::arg("gamma").noconvert(), py::arg("beta").noconvert(),
        py::arg("kb").noconvert(), py::arg("kc").noconvert());

  // One call per forward / backward pass (csrc/cpu/*_step.h): outputs
  // preallocated by the caller; the numpy backend has the same functions composed of the above.
  m.def("bn_forward", &bn_forward, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("N"), py::arg("C"),
        py::arg("S"), py::arg("gamma"), py::arg("beta"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("eps"), py::arg("batch_stats"), py::arg("factor"), py::arg("relu"), py::arg("mean").noconvert(),
        py::arg("var").noconvert());
  m.def("bn_backward", &bn_backward, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("dx").noconvert(),
        py::arg("N"), py::arg("C"), py::arg("S"), py::arg("gamma"), py::arg("beta"), py::arg("mean").noconvert(),
        py::arg("var").noconvert(), py::arg("eps"), py::arg("count"), py::arg("batch_stats"), py::arg("relu"),
        py::arg("dgamma"), py::arg("dbeta"));
  m.def("ln_forward", &ln_forward, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("R"), py::arg("L"),
        py::arg("gamma"), py::arg("beta"), py::arg("eps"), py::arg("mean").noconvert(), py::arg("var").noconvert());
  m.def("ln_backward", &ln_backward, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("dx").noconvert(),
        py::arg("R"), py::arg("L"), py::arg("gamma"), py::arg("beta"), py::arg("mean").noconvert(),
        py::arg("var").noconvert(), py::arg("eps"), py::arg("dgamma"), py::arg("dbeta"));
  m.def("gn_forward", &gn_forward, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("N"), py::arg("C"),
        py::arg("G"), py::arg("S"), py::arg("gamma"), py::arg("beta"), py::arg("eps"), py::arg("mean").noconvert(),
        py::arg("var").noconvert());
  m.def("in_forward_running", &in_forward_running, py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("N"),
        py::arg("C"), py::arg("S"), py::arg("gamma"), py::arg("beta"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("eps"), py::arg("mean").noconvert(), py::arg("var").noconvert());
  m.def("gn_backward", &gn_backward, py::arg("dy").noconvert(), py::arg("x").noconvert(), py::arg("dx").noconvert(),
        py::arg("N"), py::arg("C"), py::arg("G"), py::arg("S"), py::arg("gamma"), py::arg("beta"),
        py::arg("mean").noconvert(), py::arg("var").noconvert(), py::arg("eps"), py::arg("batch_stats"),
        py::arg("dgamma"), py::arg("dbeta"));
}

}}  // namespace regcore::bindings
