#include "groupnorm_step.h"

#include <cstring>
#include <vector>

#include "batchnorm_api.h"
#include "batchnorm_channels.h"

namespace regcore { namespace cpu {

namespace {

// N copies of the C values of a (dtype dt): per-channel values made per (sample, channel).
std::vector<unsigned char> spread_rows(DType dt, const void* a, int64_t N, int64_t C) {
  const size_t row = size_t(C) * size_t(dtype_size(dt));
  std::vector<unsigned char> out(row * size_t(N));
  for (int64_t n = 0; n < N; ++n) std::memcpy(out.data() + size_t(n) * row, a, row);
  return out;
}

}  // namespace

void gn_forward(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t G, int64_t S, DType pdt,
                const void* gamma, const void* beta, double eps, double* mean, double* var) {
  const int64_t Cg = G > 0 ? C / G : 0, M = Cg * S, NG = N * G, NC = N * C;
  if (M == 0 || NG == 0) {   // norms._moments of an empty view: zeros; nothing to normalize
    for (int64_t i = 0; i < NG; ++i) mean[i] = var[i] = 0.0;
    return;
  }
  std::vector<double> st(static_cast<size_t>(3 * NG));
  bn_moments(dt, x, 1, NG, M, st.data());
  for (int64_t i = 0; i < NG; ++i) {
    mean[i] = st[size_t(NG + i)];
    var[i] = st[size_t(2 * NG + i)] / double(M);
  }
  // _grouped_saved: each (n, c) takes its group's statistics and channel c's parameters
  std::vector<double> mean_nc(static_cast<size_t>(NC)), var_nc(static_cast<size_t>(NC));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      mean_nc[size_t(n * C + c)] = mean[n * G + c / Cg];
      var_nc[size_t(n * C + c)] = var[n * G + c / Cg];
    }
  const std::vector<unsigned char> g = gamma ? spread_rows(pdt, gamma, N, C) : std::vector<unsigned char>();
  const std::vector<unsigned char> b = beta ? spread_rows(pdt, beta, N, C) : std::vector<unsigned char>();
  std::vector<double> rstd(static_cast<size_t>(NC)), mhi(static_cast<size_t>(NC)), mlo(static_cast<size_t>(NC)),
      scale(static_cast<size_t>(NC)), shift(static_cast<size_t>(NC));   // compute dtype: 8 bytes hold either
  bn_coefficients(dt, NC, mean_nc.data(), var_nc.data(), pdt, gamma ? g.data() : nullptr, beta ? b.data() : nullptr,
                  eps, rstd.data(), mhi.data(), mlo.data(), scale.data(), shift.data());
  bn_normalize(dt, x, y, 1, NC, S, BnCoef{mhi.data(), mlo.data(), scale.data(), shift.data()}, false);
}

}}  // namespace regcore::cpu
