#include "batchnorm_channels.h"

#include <cmath>

namespace regcore { namespace cpu {

// Each expression below is written as its Python twin in python/regcore/_norm_stats.py parses:
// `-ka * (rstd * rstd) * (sdyx / m)` is ((-ka) * (rstd * rstd)) * (sdyx / m).

template <class T>
void bn_coefficients(int64_t C, const double* mean, const double* var, const T* gamma, const T* beta, double eps,
                     double* rstd, T* mhi, T* mlo, T* scale, T* shift) {
  for (int64_t c = 0; c < C; ++c) {
    const double r = 1.0 / std::sqrt(var[c] + eps);
    const double g = gamma ? double(gamma[c]) : 1.0;
    const T hi = T(mean[c]);
    rstd[c] = r;
    mhi[c] = hi;
    mlo[c] = T(mean[c] - double(hi));
    scale[c] = T(g * r);
    shift[c] = beta ? beta[c] : T(0);
  }
}

template <class T> void bn_running_update(int64_t C, T* run, const double* batch, double factor) {
  const double keep = 1.0 - factor;
  for (int64_t c = 0; c < C; ++c) run[c] = T(keep * double(run[c]) + factor * batch[c]);
}

template <class T>
void bn_grad_coefficients(int64_t C, const double* rstd, const T* gamma, const double* red, double count,
                          bool batch_stats, T* ka, T* kb, T* kc, double* dgamma, double* dbeta) {
  const double* sdy = red;
  const double* sdyx = red + C;
  for (int64_t c = 0; c < C; ++c) {
    const double g = gamma ? double(gamma[c]) : 1.0;
    const double a = g * rstd[c];
    ka[c] = T(a);
    kb[c] = batch_stats ? T(((-a) * (rstd[c] * rstd[c])) * (sdyx[c] / count)) : T(0);
    kc[c] = batch_stats ? T((-a) * (sdy[c] / count)) : T(0);
    dgamma[c] = sdyx[c] * rstd[c];
    dbeta[c] = sdy[c];
  }
}

#define REGCORE_BN_CHANNELS_INSTANTIATE(T)                                                               \
  template void bn_coefficients<T>(int64_t, const double*, const double*, const T*, const T*, double,   \
                                   double*, T*, T*, T*, T*);                                            \
  template void bn_running_update<T>(int64_t, T*, const double*, double);                                \
  template void bn_grad_coefficients<T>(int64_t, const double*, const T*, const double*, double, bool, T*, \
                                        T*, T*, double*, double*);
REGCORE_BN_CHANNELS_INSTANTIATE(float)
REGCORE_BN_CHANNELS_INSTANTIATE(double)
#undef REGCORE_BN_CHANNELS_INSTANTIATE

}}  // namespace regcore::cpu
