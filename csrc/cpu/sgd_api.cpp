#include "sgd_api.h"

#include <vector>

#include "../core/sgd_rule.h"
#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

namespace {

// A work item: elements [begin, end) of tensor t, or rows [begin, end) when rows_mode.
struct Item {
  int32_t t;
  bool rows_mode;
  int64_t begin, end;
};

// Fused row max-norm applies when every neuron's weights are one contiguous row.
bool fused_rows(const SgdTensor& s) { return s.rows > 0 && s.outer == 1; }

std::vector<Item> plan_items(const SgdTensor* ts, size_t count) {
  std::vector<Item> items;
  for (size_t t = 0; t < count; ++t) {
    const SgdTensor& s = ts[t];
    if (s.n == 0) continue;
    if (fused_rows(s)) {
      const int64_t per = s.inner >= kSgdChunk ? 1 : kSgdChunk / s.inner;
      for (int64_t r = 0; r < s.rows; r += per)
        items.push_back({int32_t(t), true, r, r + per < s.rows ? r + per : s.rows});
    } else {
      for (int64_t b = 0; b < s.n; b += kSgdChunk)
        items.push_back({int32_t(t), false, b, b + kSgdChunk < s.n ? b + kSgdChunk : s.n});
    }
  }
  return items;
}

template <class T>
void run_item(const SgdTable& k, const SgdTensor& s, const Item& it, const SgdParams<T>& p,
              double c);
template <>
void run_item<float>(const SgdTable& k, const SgdTensor& s, const Item& it,
                     const SgdParams<float>& p, double c) {
  float* w = static_cast<float*>(s.w);
  const float* g = static_cast<const float*>(s.g);
  float* b = static_cast<float*>(s.b);
  if (it.rows_mode) k.step_rows_f32(w, g, b, it.begin, it.end, s.inner, s.first, p, c);
  else k.step_f32(w, g, b, it.begin, it.end, s.first, p);
}
template <>
void run_item<double>(const SgdTable& k, const SgdTensor& s, const Item& it,
                      const SgdParams<double>& p, double c) {
  double* w = static_cast<double*>(s.w);
  const double* g = static_cast<const double*>(s.g);
  double* b = static_cast<double*>(s.b);
  if (it.rows_mode) k.step_rows_f64(w, g, b, it.begin, it.end, s.inner, s.first, p, c);
  else k.step_f64(w, g, b, it.begin, it.end, s.first, p);
}

// Max-norm along an inner axis (outer > 1): the neuron's weights are `outer` segments of
// `inner` elements, rows*inner apart. Its sum of squares follows the canonical lanes segment
// after segment (o = 0, 1, ...), so it is one fixed sequence per neuron whatever the threads.
template <class T>
double strided_scale(const SgdTable& k, const SgdTensor& s, int64_t j, double c) {
  const T* w = static_cast<const T*>(s.w);
  double sq[16] = {0};
  for (int64_t o = 0; o < s.outer; ++o) {
    const T* seg = w + (o * s.rows + j) * s.inner;
    if (s.inner < 16) {
      // Segments shorter than a lane group (e.g. the last axis of a matrix): the same lane
      // arithmetic inline, without a kernel call per segment.
      for (int64_t i = 0; i < s.inner; ++i) {
        const double v = double(seg[i]);
        sq[i] = sq[i] + v * v;
      }
    } else if constexpr (sizeof(T) == 4) {
      k.lanes_f32(seg, s.inner, nullptr, sq);
    } else {
      k.lanes_f64(seg, s.inner, nullptr, sq);
    }
  }
  return sgd_max_norm_scale(sgd_lane_tree(sq), c);
}

template <class T>
void scale_inline(T* x, int64_t n, T s) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * s;
}

void strided_max_norm(const SgdTable& k, const SgdTensor* ts, size_t count, double c) {
  struct Neuron { int32_t t; int64_t j; };
  std::vector<Neuron> neurons;
  std::vector<size_t> first_scale(count, 0);
  for (size_t t = 0; t < count; ++t) {
    const SgdTensor& s = ts[t];
    first_scale[t] = neurons.size();
    if (s.rows > 0 && !fused_rows(s) && s.n > 0)
      for (int64_t j = 0; j < s.rows; ++j) neurons.push_back({int32_t(t), j});
  }
  if (neurons.empty()) return;
  std::vector<double> scales(neurons.size());
  const int64_t nn = int64_t(neurons.size());
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < nn; ++q) {
    const SgdTensor& s = ts[neurons[q].t];
    scales[q] = s.f64 ? strided_scale<double>(k, s, neurons[q].j, c)
                      : strided_scale<float>(k, s, neurons[q].j, c);
  }
  // Rescale slab by slab (one outer index = rows contiguous segments).
  struct Slab { int32_t t; int64_t o; };
  std::vector<Slab> slabs;
  for (size_t t = 0; t < count; ++t) {
    const SgdTensor& s = ts[t];
    if (s.rows > 0 && !fused_rows(s) && s.n > 0)
      for (int64_t o = 0; o < s.outer; ++o) slabs.push_back({int32_t(t), o});
  }
  const int64_t ns = int64_t(slabs.size());
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < ns; ++q) {
    const SgdTensor& s = ts[slabs[q].t];
    const double* sc = scales.data() + first_scale[slabs[q].t];
    for (int64_t j = 0; j < s.rows; ++j) {
      if (sc[j] == 1.0) continue;
      const int64_t off = (slabs[q].o * s.rows + j) * s.inner;
      if (s.inner < 16) {
        if (s.f64) scale_inline(static_cast<double*>(s.w) + off, s.inner, sc[j]);
        else scale_inline(static_cast<float*>(s.w) + off, s.inner, float(sc[j]));
      } else if (s.f64) k.scale_f64(static_cast<double*>(s.w) + off, s.inner, sc[j]);
      else k.scale_f32(static_cast<float*>(s.w) + off, s.inner, float(sc[j]));
    }
  }
}

}  // namespace

void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h) {
  const SgdTable& k = active_sgd_table();
  const SgdParams<float> pf = h.as<float>();
  const SgdParams<double> pd = h.as<double>();
  const std::vector<Item> items = plan_items(ts, count);
  const int64_t ni = int64_t(items.size());
  auto run = [&](int64_t q) {
    const Item& it = items[q];
    const SgdTensor& s = ts[it.t];
    if (s.f64) run_item<double>(k, s, it, pd, h.max_norm);
    else run_item<float>(k, s, it, pf, h.max_norm);
  };
  if (ni == 1) {
    run(0);
  } else if (ni > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < ni; ++q) run(q);
  }
  strided_max_norm(k, ts, count, h.max_norm);
}

void penalty_sums(const PenaltyTensor* ts, size_t count, double& sum_abs, double& sum_sq) {
  const SgdTable& k = active_sgd_table();
  struct Chunk { int32_t t; int64_t begin, end; };
  std::vector<Chunk> chunks;
  for (size_t t = 0; t < count; ++t)
    for (int64_t b = 0; b < ts[t].n; b += kSgdChunk)
      chunks.push_back({int32_t(t), b, b + kSgdChunk < ts[t].n ? b + kSgdChunk : ts[t].n});
  const int64_t nc = int64_t(chunks.size());
  std::vector<double> part(size_t(2 * nc));
  auto run = [&](int64_t q) {
    const Chunk& c = chunks[q];
    double a[16] = {0}, s[16] = {0};
    if (ts[c.t].f64) k.lanes_f64(static_cast<const double*>(ts[c.t].x) + c.begin, c.end - c.begin, a, s);
    else k.lanes_f32(static_cast<const float*>(ts[c.t].x) + c.begin, c.end - c.begin, a, s);
    part[2 * q] = sgd_lane_tree(a);
    part[2 * q + 1] = sgd_lane_tree(s);
  };
  if (nc == 1) {
    run(0);
  } else if (nc > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < nc; ++q) run(q);
  }
  // Chunk partials in (tensor, chunk) order: the same sum for any thread count.
  double a = 0.0, s = 0.0;
  for (int64_t q = 0; q < nc; ++q) { a = a + part[2 * q]; s = s + part[2 * q + 1]; }
  sum_abs = a;
  sum_sq = s;
}

}}  // namespace regcore::cpu
