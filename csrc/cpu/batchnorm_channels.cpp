#include "batchnorm_channels.h"

#include <cmath>
#include <vector>

#include "dispatch.h"

namespace regcore { namespace cpu {

// Each expression below is written as its Python twin in python/regcore/_norm_stats.py parses:
// `-ka * (rstd * rstd) * (sdyx / m)` is ((-ka) * (rstd * rstd)) * (sdyx / m).

namespace {
// v as float64: the elements of a (dtype dt) or `fill` when a is null.
std::vector<double> widened(DType dt, const void* a, int64_t C, double fill) {
  std::vector<double> v(size_t(C), fill);
  if (a) active_convert_table().to_f64(dt, a, v.data(), C);
  return v;
}
void narrow(DType dt, const std::vector<double>& v, void* out) {
  active_convert_table().from_f64(dt, v.data(), out, int64_t(v.size()));
}
}  // namespace

void bn_coefficients(DType dt, int64_t C, const double* mean, const double* var, DType pdt, const void* gamma,
                     const void* beta, double eps, double* rstd, void* mhi, void* mlo, void* scale, void* shift) {
  const DType cd = compute_dtype(dt);
  const std::vector<double> g = widened(pdt, gamma, C, 1.0);
  std::vector<double> t(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) rstd[c] = 1.0 / std::sqrt(var[c] + eps);
  active_convert_table().from_f64(cd, mean, mhi, C);
  t = widened(cd, mhi, C, 0.0);
  for (int64_t c = 0; c < C; ++c) t[size_t(c)] = mean[c] - t[size_t(c)];
  narrow(cd, t, mlo);
  for (int64_t c = 0; c < C; ++c) t[size_t(c)] = g[size_t(c)] * rstd[c];
  narrow(cd, t, scale);
  narrow(cd, widened(pdt, beta, C, 0.0), shift);
}

void bn_running_update(DType rdt, int64_t C, void* run, const double* batch, double factor) {
  const double keep = 1.0 - factor;
  std::vector<double> r = widened(rdt, run, C, 0.0);
  for (int64_t c = 0; c < C; ++c) r[size_t(c)] = keep * r[size_t(c)] + factor * batch[c];
  narrow(rdt, r, run);
}

void bn_grad_coefficients(DType dt, int64_t C, const double* rstd, DType pdt, const void* gamma, const double* red,
                          double count, bool batch_stats, void* ka, void* kb, void* kc, double* dgamma,
                          double* dbeta) {
  const DType cd = compute_dtype(dt);
  const double* sdy = red;
  const double* sdyx = red + C;
  const std::vector<double> g = widened(pdt, gamma, C, 1.0);
  std::vector<double> a(static_cast<size_t>(C)), b(static_cast<size_t>(C), 0.0), k(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    const double ac = g[size_t(c)] * rstd[c];
    a[size_t(c)] = ac;
    if (batch_stats) {
      b[size_t(c)] = ((-ac) * (rstd[c] * rstd[c])) * (sdyx[c] / count);
      k[size_t(c)] = (-ac) * (sdy[c] / count);
    }
    dgamma[c] = sdyx[c] * rstd[c];
    dbeta[c] = sdy[c];
  }
  narrow(cd, a, ka);
  narrow(cd, b, kb);
  narrow(cd, k, kc);
}

}}  // namespace regcore::cpu
