// Host-side checks of regcore's CUDA entry points (csrc/cuda/*.cu run by simt on the CPU)
// against scalar references built from the same core/ formulas, compiled without simt.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "cuda/batchnorm_api.h"
#include "cuda/channel_dropout_api.h"
#include "cuda/dropout_api.h"
#include "cuda/init_api.h"
#include "cuda/layernorm_api.h"
#include "cuda/random_api.h"
#include "cuda/sgd_api.h"
#include "cuda/average_api.h"
#include "core/batchnorm.h"
#include "core/channel_dropout.h"
#include "core/dropout.h"
#include "core/init_transforms.h"
#include "core/random_transforms.h"
#include "core/sgd_rule.h"
#include "core/average.h"

using namespace regcore;
static int failures = 0, checks = 0;
#define CHECK(cond, ...)                                     \
  do {                                                       \
    ++checks;                                                \
    if (!(cond)) {                                           \
      if (++failures <= 12) {                                \
        std::printf("FAIL %s:%d: ", __FILE__, __LINE__);     \
        std::printf(__VA_ARGS__);                            \
        std::printf("\n");                                   \
      }                                                      \
    }                                                        \
  } while (0)

template <class T> static bool same(T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }

static std::mt19937_64 rng(12345);
// A storage value from a double (the 16-bit formats round once, core/half.h).
template <class T> static T from_d(double v) {
  T r;
  elem_store_f64(&r, v);
  return r;
}
template <class T> static std::vector<T> randv(size_t n, double lo = -2, double hi = 2) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n + 8);
  for (auto& x : v) x = from_d<T>(d(rng));
  return v;
}

// ---- dropout ------------------------------------------------------------------------------
// T: storage type (float, double, bfloat16_t, float16_t); the product runs in compute_t<T>.
template <class T> static void test_dropout(int64_t n, uint32_t t, uint32_t drop_all, int misalign) {
  using C = compute_t<T>;
  cuda::DropoutRule r{0x1234567890abcdefull + uint64_t(n), 17, t, drop_all};
  const C scale = C(1.25);
  auto x = randv<T>(n + 8);
  const T poison = from_d<T>(-7);
  std::vector<T> y(n + 8, poison), dx(n + 8, poison);
  std::vector<uint32_t> bits((n + 31) / 32 + 1, 0xDEADBEEFu);
  std::vector<uint8_t> bytes(n + 8, 0xAB);
  const T* xp = x.data() + misalign;
  // keep ? x * scale : +0, computed in C and rounded once to T (the scalar reference)
  auto ref = [&](int64_t i, bool keep) {
    T v;
    elem_store(&v, keep ? elem_load(xp + i) * scale : C(0));
    return v;
  };
  cuda::dropout_forward(dtype_of<T>(), xp, y.data() + misalign, bits.data(), bytes.data() + misalign, n, r, scale, 0);
  const StreamKey key = stream_key(r.seed);
  for (int64_t q = 0; q < (n + 31) / 32; ++q) {
    uint32_t ref = keep_word(key, r.offset, uint64_t(q), t, drop_all);
    if (32 * (q + 1) > n) ref &= (n % 32 == 0) ? ~0u : ((1u << (n % 32)) - 1u);
    CHECK(bits[q] == ref, "dropout n=%lld t=%u word %lld: %08x vs ref %08x", (long long)n, t, (long long)q, bits[q], ref);
  }
  CHECK(bits[(n + 31) / 32] == 0xDEADBEEFu, "dropout n=%lld wrote past the mask", (long long)n);
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = (bits[i / 32] >> (i % 32)) & 1u;
    CHECK(bytes[misalign + i] == uint8_t(keep), "dropout bytes n=%lld i=%lld", (long long)n, (long long)i);
    CHECK(same(y[misalign + i], ref(i, keep)), "dropout y n=%lld i=%lld (%s)", (long long)n, (long long)i,
          dtype_traits<T>::name);
  }
  CHECK(same(y[misalign + n], poison), "dropout n=%lld wrote y past n", (long long)n);
  // backward from bits, from bytes, and redrawn from the stream: all three must agree with y's mask
  for (int src = 0; src < 3; ++src) {
    std::fill(dx.begin(), dx.end(), poison);
    cuda::dropout_backward(dtype_of<T>(), xp, dx.data() + misalign, src == 0 ? bits.data() : nullptr,
                              src == 1 ? bytes.data() + misalign : nullptr, n, r, scale, 0);
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = (bits[i / 32] >> (i % 32)) & 1u;
      CHECK(same(dx[misalign + i], ref(i, keep)), "dropout_backward src=%d n=%lld i=%lld (%s)", src, (long long)n,
            (long long)i, dtype_traits<T>::name);
    }
  }
}

// T: storage type; C = compute_t<T>. The references compute in C and round once to T; dbias
// sums the stored dx values.
template <class T> static void test_bias_act(int64_t rows, int64_t cols, int act) {
  using C = compute_t<T>;
  const int64_t n = rows * cols;
  cuda::DropoutRule r{99 + uint64_t(n), 5, 0x60000000u, 0};
  const C scale = C(1.5);
  auto x = randv<T>(n), bias = randv<T>(cols), res = randv<T>(n), dy = randv<T>(n);
  std::vector<T> y(n + 8), dx(n + 8), dbias(cols + 1, from_d<T>(-7));
  std::vector<uint32_t> bits((n + 31) / 32 + 1);
  cuda::bias_act_forward(dtype_of<T>(), x.data(), bias.data(), res.data(), y.data(), bits.data(), nullptr, n, cols, act, r, scale, 0);
  const StreamKey key = stream_key(r.seed);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t keep = (keep_word(key, r.offset, uint64_t(i / 32), r.threshold, 0) >> (i % 32)) & 1u;
    C f, d;
    activation(act, elem_load(&x[i]) + elem_load(&bias[i % cols]), f, d);
    T ref;
    elem_store(&ref, (keep ? f * scale : C(0)) + elem_load(&res[i]));
    CHECK(same(y[i], ref), "bias_act_forward act=%d i=%lld (%s)", act, (long long)i, dtype_traits<T>::name);
  }
  cuda::bias_act_backward(dtype_of<T>(), dy.data(), x.data(), bias.data(), nullptr, nullptr, dx.data(), dbias.data(), n, cols, act, r, scale, 0);
  const int64_t R = 64, nchunks = (rows + R - 1) / R;
  for (int64_t c = 0; c < cols; ++c) {
    double total = 0.0;
    for (int64_t k = 0; k < nchunks; ++k) {
      double acc = 0.0;
      for (int64_t row = k * R; row < rows && row < (k + 1) * R; ++row) {
        const int64_t i = row * cols + c;
        const uint32_t keep = (keep_word(key, r.offset, uint64_t(i / 32), r.threshold, 0) >> (i % 32)) & 1u;
        C g = C(0);
        if (keep) {
          C f, d;
          activation(act, elem_load(&x[i]) + elem_load(&bias[c]), f, d);
          g = (elem_load(&dy[i]) * scale) * d;
        }
        T gs;
        elem_store(&gs, g);
        CHECK(same(dx[i], gs), "bias_act_backward dx act=%d i=%lld (%s)", act, (long long)i, dtype_traits<T>::name);
        acc += double(elem_load(&gs));
      }
      total += acc;
    }
    CHECK(same(dbias[c], from_d<T>(total)), "bias_act_backward dbias act=%d col=%lld: %.17g vs %.17g", act,
          (long long)c, double(elem_load(&dbias[c])), total);
  }
}

// ---- random fills -------------------------------------------------------------------------
// S: the storage type of the output (Tr::out_t, or a 16-bit format the transform's float32 values
// are rounded to as they are stored).
template <class S, class Tr, class F> static void test_fill_as(const Tr& tr, int64_t n, int misalign, F fill) {
  using T = typename Tr::out_t;
  std::vector<S> out(n + 8, S{});
  fill(out.data() + misalign, n);
  const StreamKey key = stream_key(777);
  for (int64_t b = 0; b * Tr::E < n; ++b) {
    uint32_t w[4];
    stream_block(key, 3 + uint64_t(b), w);
    T ref[4];
    tr.apply(w, ref);
    for (int k = 0; k < Tr::E && b * Tr::E + k < n; ++k) {
      S want;
      store_as(&want, ref[k]);
      CHECK(same(out[misalign + b * Tr::E + k], want), "fill E=%d n=%lld i=%lld (%d-byte)", Tr::E, (long long)n,
            (long long)(b * Tr::E + k), int(sizeof(S)));
    }
  }
  CHECK(same(out[misalign + n], S{}), "fill wrote past n");
}
template <class Tr, class F> static void test_fill(const Tr& tr, int64_t n, int misalign, F fill) {
  test_fill_as<typename Tr::out_t>(tr, n, misalign, fill);
}

// ---- Gaussian noise: y = x + z or x * z with z the stream of regcore.random.normal -------------
template <class T> static void test_noise(int64_t n, bool mult) {
  using C = compute_t<T>;
  auto x = randv<T>(n);
  const T poison = from_d<T>(-7);
  std::vector<T> y(n + 4, poison);
  cuda::gaussian_noise(dtype_of<T>(), x.data(), y.data(), n, 4242, 9, 0.25, 1.5, mult, 0);
  const auto tr = normal_transform<T>(0.25, 1.5);
  const StreamKey key = stream_key(4242);
  for (int64_t b = 0; b * tr.E < n; ++b) {
    uint32_t w[4];
    stream_block(key, 9 + uint64_t(b), w);
    C z[4];
    tr.apply(w, z);
    for (int k = 0; k < tr.E && b * tr.E + k < n; ++k) {
      const int64_t i = b * tr.E + k;
      const C xi = elem_load(&x[i]);
      T want;
      elem_store(&want, mult ? xi * z[k] : xi + z[k]);   // in C, rounded once to T
      CHECK(same(y[i], want), "gaussian_noise n=%lld mult=%d i=%lld (%s)", (long long)n, int(mult), (long long)i,
            dtype_traits<T>::name);
    }
  }
  CHECK(same(y[n], poison), "gaussian_noise wrote past n");
}

// ---- batch norm ---------------------------------------------------------------------------
template <class T> static void test_bn(int64_t N, int64_t C, int64_t S) {
  const int64_t n = N * C * S;
  auto x = randv<T>(n, -1, 3);
  std::vector<double> out(3 * C, -1.0);
  cuda::bn_moments(dtype_of<T>(), x.data(), N, C, S, out.data(), 0);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < S; ++j) s += double(x[(i * C + c) * S + j]);
    const double cnt = double(N * S), mean = cnt > 0 ? s / cnt : 0.0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < S; ++j) { const double d = double(x[(i * C + c) * S + j]) - mean; q += d * d; }
    CHECK(out[c] == cnt, "bn_moments count N=%lld C=%lld S=%lld c=%lld: %g", (long long)N, (long long)C, (long long)S, (long long)c, out[c]);
    CHECK(std::fabs(out[C + c] - mean) <= 1e-12 * (1 + std::fabs(mean)), "bn_moments mean N=%lld C=%lld S=%lld c=%lld: %.17g vs %.17g", (long long)N, (long long)C, (long long)S, (long long)c, out[C + c], mean);
    CHECK(std::fabs(out[2 * C + c] - q) <= 1e-10 * (1 + q), "bn_moments m2 N=%lld C=%lld S=%lld c=%lld: %.17g vs %.17g", (long long)N, (long long)C, (long long)S, (long long)c, out[2 * C + c], q);
  }
  auto mhi = randv<T>(C), mlo = randv<T>(C, -1e-6, 1e-6), sc = randv<T>(C), sh = randv<T>(C);
  BnCoef k{mhi.data(), mlo.data(), sc.data(), sh.data()};
  std::vector<T> y(n + 4, T(-7));
  for (int relu = 0; relu < 2; ++relu) {
    cuda::bn_normalize(dtype_of<T>(), x.data(), y.data(), N, C, S, k, relu != 0, 0);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = (j / S) % C;
      CHECK(same(y[j], bn_normalize(x[j], mhi[c], mlo[c], sc[c], sh[c], relu != 0)), "bn_normalize j=%lld", (long long)j);
    }
  }
}


// Float64 sums whose order differs from the kernel's tree: equal up to a few ulps of sum |terms|.
static bool close_sum(double got, double ref, double mag) { return std::fabs(got - ref) <= 1e-12 * (1.0 + mag); }

// ---- batch-norm backward: reduce (both layouts) and apply, with and without the fused ReLU --
template <class T> static void test_bn_grad(int64_t N, int64_t C, int64_t S) {
  const int64_t n = N * C * S;
  auto x = randv<T>(n, -1, 3), dy = randv<T>(n);
  auto mhi = randv<T>(C), mlo = randv<T>(C, -1e-6, 1e-6), sc = randv<T>(C), sh = randv<T>(C);
  auto ka = randv<T>(C), kb = randv<T>(C), kc = randv<T>(C);
  BnCoef k{mhi.data(), mlo.data(), sc.data(), sh.data()};
  BnGradCoef g{ka.data(), kb.data(), kc.data()};
  for (int relu = 0; relu < 2; ++relu) {
    std::vector<double> out(2 * C + 1, -1.0);
    cuda::bn_grad_reduce(dtype_of<T>(), dy.data(), x.data(), N, C, S, k, relu != 0, out.data(), 0);
    for (int64_t c = 0; c < C; ++c) {
      double a = 0, b = 0, ma = 0, mb = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < S; ++j) {
          const int64_t e = (i * C + c) * S + j;
          const T xc = bn_center(x[e], mhi[c], mlo[c]);
          const T d = bn_masked_dy(dy[e], xc, sc[c], sh[c], relu != 0);
          a += double(d); b += double(d) * double(xc);
          ma += std::fabs(double(d)); mb += std::fabs(double(d) * double(xc));
        }
      CHECK(close_sum(out[c], a, ma) && close_sum(out[C + c], b, mb),
            "bn_grad_reduce N=%lld C=%lld S=%lld relu=%d c=%lld: %.17g %.17g vs %.17g %.17g", (long long)N,
            (long long)C, (long long)S, relu, (long long)c, out[c], out[C + c], a, b);
    }
    CHECK(out[2 * C] == -1.0, "bn_grad_reduce wrote past its output");
    std::vector<T> dx(n + 4, T(-7));
    cuda::bn_grad_apply(dtype_of<T>(), dy.data(), x.data(), dx.data(), N, C, S, k, g, relu != 0, 0);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = (j / S) % C;
      const T xc = bn_center(x[j], mhi[c], mlo[c]);
      const T want = bn_backward_dx(bn_masked_dy(dy[j], xc, sc[c], sh[c], relu != 0), xc, ka[c], kb[c], kc[c]);
      CHECK(same(dx[j], want), "bn_grad_apply relu=%d j=%lld", relu, (long long)j);
    }
    CHECK(same(dx[n], T(-7)), "bn_grad_apply wrote past n");
  }
}

// ---- layer norm: normalize, backward row/column sums, apply ---------------------------------
// affine = false passes null gamma/beta (non-affine layer norm): the kernels must use 1 and 0,
// which the reference below reads from filled arrays.
template <class T> static void test_ln(int64_t R, int64_t L, bool affine = true) {
  const int64_t n = R * L;
  auto x = randv<T>(n, -1, 3), dy = randv<T>(n);
  auto mhi = randv<T>(R), mlo = randv<T>(R, -1e-6, 1e-6), rstd = randv<T>(R, 0.5, 2), gam = randv<T>(L), bet = randv<T>(L);
  auto kb = randv<T>(R), kc = randv<T>(R);
  if (!affine) std::fill(gam.begin(), gam.end(), T(1)), std::fill(bet.begin(), bet.end(), T(0));
  LnCoef k{mhi.data(), mlo.data(), rstd.data(), affine ? gam.data() : nullptr, affine ? bet.data() : nullptr};
  std::vector<T> y(n + 4, T(-7)), dx(n + 4, T(-7));
  cuda::ln_normalize(dtype_of<T>(), x.data(), y.data(), R, L, k, 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t r = j / L, l = j % L;
    CHECK(same(y[j], ln_normalize(x[j], mhi[r], mlo[r], rstd[r], gam[l], bet[l])), "ln_normalize j=%lld", (long long)j);
  }
  CHECK(same(y[n], T(-7)), "ln_normalize wrote past n");
  std::vector<double> row(2 * R + 1, -1.0), col(2 * L + 1, -1.0);
  cuda::ln_grad_reduce(dtype_of<T>(), dy.data(), x.data(), R, L, k, row.data(), col.data(), 0);
  std::vector<double> ca(L, 0), cb(L, 0), ma(L, 0), mb(L, 0);
  for (int64_t r = 0; r < R; ++r) {
    double a = 0, b = 0, m1 = 0, m2 = 0;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t j = r * L + l;
      const T xc = bn_center(x[j], mhi[r], mlo[r]);
      const T gd = gam[l] * dy[j];
      a += double(gd); b += double(gd) * double(xc);
      m1 += std::fabs(double(gd)); m2 += std::fabs(double(gd) * double(xc));
      const T xhat = xc * rstd[r];
      ca[l] += double(dy[j]) * double(xhat); cb[l] += double(dy[j]);
      ma[l] += std::fabs(double(dy[j]) * double(xhat)); mb[l] += std::fabs(double(dy[j]));
    }
    CHECK(close_sum(row[2 * r], a, m1) && close_sum(row[2 * r + 1], b, m2), "ln_grad_reduce R=%lld L=%lld row %lld",
          (long long)R, (long long)L, (long long)r);
  }
  for (int64_t l = 0; l < L; ++l)
    CHECK(close_sum(col[l], ca[l], ma[l]) && close_sum(col[L + l], cb[l], mb[l]), "ln_grad_reduce R=%lld L=%lld col %lld",
          (long long)R, (long long)L, (long long)l);
  CHECK(row[2 * R] == -1.0 && col[2 * L] == -1.0, "ln_grad_reduce wrote past its outputs");
  cuda::ln_grad_apply(dtype_of<T>(), dy.data(), x.data(), dx.data(), R, L, k, kb.data(), kc.data(), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t r = j / L, l = j % L;
    const T want = ln_backward_dx(dy[j], bn_center(x[j], mhi[r], mlo[r]), gam[l], rstd[r], kb[r], kc[r]);
    CHECK(same(dx[j], want), "ln_grad_apply j=%lld", (long long)j);
  }
  CHECK(same(dx[n], T(-7)), "ln_grad_apply wrote past n");
}

// ---- sgd ----------------------------------------------------------------------------------
static void test_sgd(const std::vector<int64_t>& sizes, bool f64_mix) {
  SgdHyper h{0.1, 0.9, 0.95, 1e-3, 1.0, 0.0, 0.0, kSgdMomentum | kSgdWeightDecay | kSgdNesterov, 0.0};
  std::vector<std::vector<float>> w, g, b;
  std::vector<std::vector<double>> wd, gd, bd;
  std::vector<SgdTensor> ts;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const bool f64 = f64_mix && (i % 3 == 1);
    if (f64) {
      wd.push_back(randv<double>(sizes[i])); gd.push_back(randv<double>(sizes[i])); bd.push_back(randv<double>(sizes[i]));
    } else {
      w.push_back(randv<float>(sizes[i])); g.push_back(randv<float>(sizes[i])); b.push_back(randv<float>(sizes[i]));
    }
  }
  // references
  auto w0 = w, b0 = b; auto wd0 = wd, bd0 = bd;
  size_t fi = 0, di = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const bool f64 = f64_mix && (i % 3 == 1), first = (i % 5 == 0);
    if (f64) { ts.push_back(SgdTensor{wd[di].data(), gd[di].data(), bd[di].data(), sizes[i], DType::f64, first, 0, 0, 0}); ++di; }
    else { ts.push_back(SgdTensor{w[fi].data(), g[fi].data(), b[fi].data(), sizes[i], DType::f32, first, 0, 0, 0}); ++fi; }
  }
  cuda::sgd_step_multi(ts.data(), ts.size(), h, 0);
  fi = di = 0;
  const auto pf = sgd_params<float>(h);
  const auto pd = sgd_params<double>(h);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const bool f64 = f64_mix && (i % 3 == 1), first = (i % 5 == 0);
    int64_t bad = 0;
    for (int64_t j = 0; j < sizes[i]; ++j) {
      if (f64) {
        double wv = wd0[di][j], bv = first ? 0.0 : bd0[di][j];
        sgd_rule(wv, gd[di][j], bv, first, pd);
        bad += !same(wd[di][j], wv) || !same(bd[di][j], bv);
      } else {
        float wv = w0[fi][j], bv = first ? 0.f : b0[fi][j];
        sgd_rule(wv, g[fi][j], bv, first, pf);
        bad += !same(w[fi][j], wv) || !same(b[fi][j], bv);
      }
    }
    CHECK(bad == 0, "sgd_step_multi tensor %zu (n=%lld, f64=%d): %lld elements differ", i, (long long)sizes[i], int(f64), (long long)bad);
    if (f64) ++di; else ++fi;
  }
}

template <class T> static void test_max_norm_penalty(int64_t outer, int64_t rows, int64_t inner, double c) {
  const int64_t n = outer * rows * inner;
  auto w = randv<T>(n), ref = w;
  SgdHyper h{0, 0, 0, 0, 1.0, 0, 0, 0u, c};
  SgdTensor t{w.data(), ref.data(), nullptr, 0, dtype_of<T>(), false, outer, rows, inner};  // n = 0: no step, max-norm only
  t.n = n;
  h.lr = 0.0;  // the step leaves w unchanged (w - 0*g)
  cuda::sgd_step_multi(&t, 1, h, 0);
  for (int64_t j = 0; j < rows; ++j) {
    double acc[16] = {};
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) { const double v = double(ref[(o * rows + j) * inner + i]); acc[i % 16] = acc[i % 16] + v * v; }
    const double s = sgd_max_norm_scale(sgd_lane_tree(acc), c);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t e = (o * rows + j) * inner + i;
        const T want = s != 1.0 ? ref[e] * T(s) : ref[e];
        CHECK(same(w[e], want), "max_norm row %lld elem %lld", (long long)j, (long long)e);
      }
  }
  // penalty sums over three tensors
  auto a = randv<T>(n), b2 = randv<T>(70000);
  PenaltyTensor pt[3] = {{a.data(), n, dtype_of<T>()}, {b2.data(), 0, dtype_of<T>()}, {b2.data(), 70000, dtype_of<T>()}};
  double sa = -1, ss = -1;
  cuda::penalty_sums(pt, 3, sa, ss, 0);
  double ra = 0, rs = 0;
  for (const auto& p : pt) {
    const T* x = static_cast<const T*>(p.x);
    for (int64_t q = 0; q * kSgdChunk < p.n; ++q) {
      double la[16] = {}, ls[16] = {};
      for (int64_t i = q * kSgdChunk; i < p.n && i < (q + 1) * kSgdChunk; ++i) {
        const double v = double(x[i]);
        la[(i - q * kSgdChunk) % 16] += sgd_abs(v);
        ls[(i - q * kSgdChunk) % 16] += v * v;
      }
      ra = ra + sgd_lane_tree(la);
      rs = rs + sgd_lane_tree(ls);
    }
  }
  CHECK(same(sa, ra) && same(ss, rs), "penalty_sums %.17g %.17g vs %.17g %.17g", sa, ss, ra, rs);
}

// ---- weight averaging ----------------------------------------------------------------------
// One (average SA, parameter SP) pair of n elements (plus 8 guard elements that must not change);
// the reference applies core/average.h element by element on the host (mode and factor from w
// rounded to compute_t<SA>; a narrower parameter widened exactly by elem_load).
struct AvgCaseBase {
  virtual ~AvgCaseBase() = default;
  virtual AvgTensor tensor() = 0;
  virtual int64_t bad(double w64) const = 0;
};
template <class SA, class SP> struct AvgCase : AvgCaseBase {
  std::vector<SA> a, a0;
  std::vector<SP> p;
  int64_t n;
  explicit AvgCase(int64_t n) : a(randv<SA>(n)), a0(a), p(randv<SP>(n)), n(n) {}
  AvgTensor tensor() override { return AvgTensor{a.data(), p.data(), n, dtype_of<SA>(), dtype_of<SP>()}; }
  int64_t bad(double w64) const override {
    using C = compute_t<SA>;
    const C w = C(w64);
    const AvgMode m = avg_mode(w);
    std::vector<SA> want = a0;
    for (int64_t j = 0; j < n; ++j) {
      if (m == AvgMode::copy) elem_store(&want[j], elem_load(&p[j]));
      else if (m != AvgMode::keep)
        elem_store(&want[j], avg_blend(elem_load(&want[j]), elem_load(&p[j]), avg_factor(w, m), m == AvgMode::high));
    }
    int64_t k = 0;
    for (size_t j = 0; j < want.size(); ++j) k += !same(a[j], want[j]);  // the 8 guard elements too
    return k;
  }
};

// Tensors of `sizes` averaged with weight w; pairs(i) -> 0: float32, 1: float64, 2: float32 average
// of bfloat16 parameters, 3: float32 average of float16 parameters (each pair a table of its own).
template <class Pairs>
static void test_average(const std::vector<int64_t>& sizes, double w, Pairs pairs) {
  std::vector<std::unique_ptr<AvgCaseBase>> cs;
  std::vector<AvgTensor> ts;
  for (size_t i = 0; i < sizes.size(); ++i) {
    switch (pairs(i)) {
      case 0: cs.emplace_back(new AvgCase<float, float>(sizes[i])); break;
      case 1: cs.emplace_back(new AvgCase<double, double>(sizes[i])); break;
      case 2: cs.emplace_back(new AvgCase<float, bfloat16_t>(sizes[i])); break;
      default: cs.emplace_back(new AvgCase<float, float16_t>(sizes[i])); break;
    }
    ts.push_back(cs.back()->tensor());
  }
  cuda::average_multi(ts.data(), ts.size(), w, 0);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t bad = cs[i]->bad(w);
    CHECK(bad == 0, "average_multi w=%g tensor %zu (n=%lld, pair %d): %lld elements differ", w, i,
          (long long)sizes[i], pairs(i), (long long)bad);
  }
}
static int avg_f32_f64(size_t i) { return i % 3 == 1 ? 1 : 0; }  // every third tensor float64
static int avg_all_pairs(size_t i) { return int(i % 4); }       // every pair in turn

// ---- channel (spatial) dropout and alpha dropout -------------------------------------------
// Decisions: the scalar keep words of core/dropout.h over batch*C decisions (pad bits zero);
// element i reads decision channel_decision(i) (core/channel_dropout.h); values by the core's
// masked_affine. Stored words, regenerated words and a caller's keep_in must all agree.
template <class T> static void test_channel(int64_t batch, int64_t C, int64_t S, bool last, bool affine, int misalign,
                                            uint32_t t, uint32_t drop_all) {
  cuda::DropoutRule r{0x0123456789abcdefull + uint64_t(batch * C * S), 5, t, drop_all};
  const int64_t dec = batch * C, n = dec * S, words = (dec + 31) / 32;
  const T s = T(1.75), b = affine ? T(0.375) : T(0), d = affine ? T(-1.25) : T(0);
  auto x = randv<T>(n + 8);
  const T* xp = x.data() + misalign;
  std::vector<T> y(n + 8, T(-7)), y2(n + 8, T(-7)), y3(n + 8, T(-7));
  std::vector<uint32_t> bits(words + 1, 0xDEADBEEFu);
  std::vector<uint32_t> ref(words + 1, 0u);
  const StreamKey key = stream_key(r.seed);
  for (int64_t q = 0; q < words; ++q) {
    ref[q] = keep_word(key, r.offset, uint64_t(q), t, drop_all);
    if (32 * (q + 1) > dec && dec % 32) ref[q] &= (1u << (dec % 32)) - 1u;
  }
  cuda::channel_dropout(dtype_of<T>(), xp, y.data() + misalign, nullptr, bits.data(), batch, C, S, last, r, s, b, d,
                        affine, 0);
  cuda::channel_dropout(dtype_of<T>(), xp, y2.data() + misalign, nullptr, nullptr, batch, C, S, last, r, s, b, d,
                        affine, 0);
  cuda::channel_dropout(dtype_of<T>(), xp, y3.data() + misalign, ref.data(), nullptr, batch, C, S, last, r, s, b, d,
                        affine, 0);
  for (int64_t q = 0; q < words; ++q)
    CHECK(bits[q] == ref[q], "channel N=%lld C=%lld word %lld: %08x vs ref %08x", (long long)batch, (long long)C,
          (long long)q, bits[q], ref[q]);
  CHECK(bits[words] == 0xDEADBEEFu, "channel wrote past the mask");
  const int layout = last ? CHANNELS_LAST : CHANNELS_FIRST;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t keep = keep_bit_at(ref.data(), channel_decision(i, C, S, layout));
    const T want = affine ? masked_affine<true, T>(keep, xp[i], s, b, d) : masked_affine<false, T>(keep, xp[i], s, b, d);
    CHECK(same(y[misalign + i], want), "channel y N=%lld C=%lld S=%lld last=%d affine=%d i=%lld", (long long)batch,
          (long long)C, (long long)S, int(last), int(affine), (long long)i);
    CHECK(same(y2[misalign + i], want), "channel y (scratch words) i=%lld", (long long)i);
    CHECK(same(y3[misalign + i], want), "channel y (keep_in) i=%lld", (long long)i);
  }
  CHECK(same(y[misalign + n], T(-7)) && same(y2[misalign + n], T(-7)), "channel wrote y past n");
}

// Element-wise alpha dropout: decisions are dropout's keep words over n elements.
template <class T> static void test_alpha(int64_t n, int misalign) {
  cuda::DropoutRule r{0xfeedfacecafebeefull + uint64_t(n), 9, 0x33333333u, 0};
  const T a = T(1.0862), b = T(0.2203), d = T(-1.6894);
  auto x = randv<T>(n + 8);
  const T* xp = x.data() + misalign;
  std::vector<T> y(n + 8, T(-7));
  std::vector<uint32_t> bits((n + 31) / 32 + 1, 0xDEADBEEFu);
  cuda::alpha_dropout_forward(dtype_of<T>(), xp, y.data() + misalign, bits.data(), n, r, a, b, d, 0);
  const StreamKey key = stream_key(r.seed);
  for (int64_t q = 0; q < (n + 31) / 32; ++q) {
    uint32_t ref = keep_word(key, r.offset, uint64_t(q), r.threshold, 0);
    if (32 * (q + 1) > n && n % 32) ref &= (1u << (n % 32)) - 1u;
    CHECK(bits[q] == ref, "alpha n=%lld word %lld", (long long)n, (long long)q);
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t keep = (bits[i / 32] >> (i % 32)) & 1u;
    CHECK(same(y[misalign + i], masked_affine<true, T>(keep, xp[i], a, b, d)), "alpha y n=%lld i=%lld", (long long)n,
          (long long)i);
  }
  CHECK(same(y[misalign + n], T(-7)), "alpha wrote y past n");
}

// argv: families to run (dropout channel random norm sgd average); none = all (the mutation check runs one).
static int g_argc; static char** g_argv;
static bool want(const char* fam) {
  if (g_argc < 2) return true;
  for (int i = 1; i < g_argc; ++i) if (std::strcmp(g_argv[i], fam) == 0) return true;
  return false;
}

int main(int argc, char** argv) {
  g_argc = argc; g_argv = argv;
  if (want("dropout")) {
  for (int64_t n : {1, 3, 4, 31, 32, 33, 127, 128, 129, 1000, 4099, 70001})
    for (int mis : {0, 1}) {
      test_dropout<float>(n, 0x40000000u, 0, mis);
      test_dropout<double>(n, 0xC0000000u, 0, mis);
      test_dropout<bfloat16_t>(n, 0x40000000u, 0, mis);
      test_dropout<float16_t>(n, 0x80000000u, 0, mis);
    }
  test_dropout<float>(257, 0, 0, 0);
  test_dropout<float>(257, 0, 1, 0);
  for (int act = 0; act <= 5; ++act) test_bias_act<float>(130, 37, act);
  test_bias_act<double>(300, 5, 2);
  for (int act = 0; act <= 5; ++act) test_bias_act<bfloat16_t>(130, 37, act);
  test_bias_act<float16_t>(200, 33, 3);
  }
  if (want("channel")) {
  for (bool last : {false, true})
    for (bool affine : {false, true})
      for (int mis : {0, 1}) {
        test_channel<float>(3, 5, 7, last, affine, mis, 0x60000000u, 0);       // C < 32, odd spatial
        test_channel<double>(2, 37, 3, last, affine, mis, 0x80000000u, 0);     // C > 32, rows cross words
        test_channel<float>(4, 70, 1, last, affine, mis, 0x40000000u, 0);      // spatial 1
        test_channel<float>(2, 3, 1001, last, affine, mis, 0xA0000000u, 0);    // long rows, odd length
      }
  test_channel<float>(5, 9, 4, true, false, 0, 0, 0);    // p = 0: every decision kept
  test_channel<float>(5, 9, 4, false, true, 0, 0, 1);    // p = 1: every decision dropped
  for (int64_t n : {1, 31, 33, 1000, 4099})
    for (int mis : {0, 1}) { test_alpha<float>(n, mis); test_alpha<double>(n, mis); }
  }
  if (want("random")) {
  for (int64_t n : {1, 5, 4096, 9999})
    for (int mis : {0, 1}) {
      test_fill(UniformF32Transform{-1.f, 3.f, 2.f}, n, mis, [](float* o, int64_t m) { cuda::fill_uniform(DType::f32, o, m, 777, 3, -1.f, 3.f, 2.f, 0); });
      test_fill(NormalF64Transform{0.5, 2.0}, n, mis, [](double* o, int64_t m) { cuda::fill_normal(DType::f64, o, m, 777, 3, 0.5, 2.0, 0); });
      test_fill(NormalF32Transform{0.f, 1.f}, n, mis, [](float* o, int64_t m) { cuda::fill_normal(DType::f32, o, m, 777, 3, 0.f, 1.f, 0); });
      test_fill(BitsTransform{}, n, mis, [](uint32_t* o, int64_t m) { cuda::fill_bits(o, m, 777, 3, 0); });
      // 16-bit outputs: the float32 transforms, rounded as stored
      test_fill_as<bfloat16_t>(UniformF32Transform{-1.f, 3.f, 1.9921875f}, n, mis, [](bfloat16_t* o, int64_t m) {
        cuda::fill_uniform(DType::bf16, o, m, 777, 3, -1.f, 3.f, 1.9921875f, 0); });
      test_fill_as<float16_t>(NormalF32Transform{0.5f, 2.f}, n, mis, [](float16_t* o, int64_t m) {
        cuda::fill_normal(DType::f16, o, m, 777, 3, 0.5f, 2.f, 0); });
      test_fill_as<bfloat16_t>(NormalF32Transform{0.f, 1.f}, n, mis, [](bfloat16_t* o, int64_t m) {
        cuda::fill_normal(DType::bf16, o, m, 777, 3, 0.f, 1.f, 0); });
    }
  for (int64_t n : {1, 7, 10001}) {
    test_noise<float>(n, false); test_noise<float>(n, true); test_noise<double>(n, true);
    test_noise<bfloat16_t>(n, false); test_noise<float16_t>(n, true);
  }
  for (int64_t n : {1, 3, 4097})
    for (int mis : {0, 1}) {
      const TruncNormalArgs a{0.02275, 0.9545, 0.25, 1.5, -2.75, 3.25};
      test_fill(TruncNormalTransform<float>(a), n, mis, [&](float* o, int64_t m) {
        cuda::fill_trunc_normal(DType::f32, o, m, 777, 3, a.p_lo, a.p_span, a.mean, a.scale, a.lo, a.hi, 0); });
      test_fill(TruncNormalTransform<double>(a), n, mis, [&](double* o, int64_t m) {
        cuda::fill_trunc_normal(DType::f64, o, m, 777, 3, a.p_lo, a.p_span, a.mean, a.scale, a.lo, a.hi, 0); });
      test_fill_as<float16_t>(TruncNormalTransform<float>(a), n, mis, [&](float16_t* o, int64_t m) {
        cuda::fill_trunc_normal(DType::f16, o, m, 777, 3, a.p_lo, a.p_span, a.mean, a.scale, a.lo, a.hi, 0); });
      test_fill_as<bfloat16_t>(TruncNormalTransform<float>(a), n, mis, [&](bfloat16_t* o, int64_t m) {
        cuda::fill_trunc_normal(DType::bf16, o, m, 777, 3, a.p_lo, a.p_span, a.mean, a.scale, a.lo, a.hi, 0); });
    }
  }
  if (want("norm")) {
  test_bn_grad<float>(7, 3, 5);
  test_bn_grad<double>(3, 2, 20000);
  test_bn_grad<float>(1000, 45, 1);
  test_bn_grad<double>(3, 70, 1);
  test_ln<float>(5, 37);
  test_ln<double>(130, 300);
  test_ln<float>(3, 20000);
  test_ln<float>(300, 1);
  test_ln<float>(7, 45, false);
  test_ln<double>(4, 129, false);
  test_bn<float>(7, 3, 5);          // rows layout, one piece
  test_bn<double>(3, 2, 20000);     // rows layout, several pieces per channel
  test_bn<float>(1000, 45, 1);      // cols layout, C not a multiple of 32, 4 row pieces
  test_bn<double>(3, 70, 1);        // cols layout, fewer rows than row lanes
  }
  if (want("sgd")) {
  test_sgd({5, 70000, 1, 130000, 3}, true);
  std::vector<int64_t> many(60, 1000);   // more tensors than one launch table holds (48)
  many[7] = 200000;
  test_sgd(many, true);
  test_sgd({int64_t(330) * kSgdChunk + 5}, false);  // more chunks than one launch holds (320)
  test_sgd({int64_t(5) * kSgdChunk, int64_t(330) * kSgdChunk}, false);  // ... carried over from table slot 1
  test_max_norm_penalty<float>(3, 50, 37, 2.0);
  test_max_norm_penalty<double>(1, 7, 100, 3.0);
  }
  if (want("average")) {
  auto f32 = [](size_t) { return 0; };
  auto bf16 = [](size_t) { return 2; };
  for (double w : {0.001, 0.3, 0.5, 0.7, 1.0, 0.0, 1e-60}) {
    test_average({5, 70000, 1, 0, 130001, 3}, w, avg_f32_f64);
    test_average({5, 70000, 1, 0, 130001, 3, 17, 65536}, w, avg_all_pairs);
  }
  std::vector<int64_t> many(150, 1000);   // more tensors than one launch table holds (64), odd sizes
  for (size_t i = 0; i < many.size(); i += 7) many[i] = int64_t(i) + 1;
  many[70] = 200001;
  test_average(many, 0.01, avg_f32_f64);
  test_average(many, 0.01, avg_all_pairs);
  test_average(many, 0.6, bf16);  // a 16-bit pair past 64 slots
  test_average({int64_t(330) * kSgdChunk + 5}, 0.25, f32);  // more chunks than one launch holds (320)
  test_average({int64_t(5) * kSgdChunk, int64_t(330) * kSgdChunk + 1, 7}, 0.9, f32);  // ... carried over from slot 1
  test_average({int64_t(5) * kSgdChunk, int64_t(330) * kSgdChunk + 1, 7}, 0.9, avg_f32_f64);  // float64 in a table of its own
  test_average({int64_t(5) * kSgdChunk, int64_t(330) * kSgdChunk + 1, 7}, 0.9, bf16);  // the carry-over, 16-bit parameters
  }
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  return failures != 0;
}
