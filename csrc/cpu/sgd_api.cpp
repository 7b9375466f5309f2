#include "sgd_api.h"

#include <vector>

#include "../core/sgd_rule.h"
#include "dispatch.h"
#include "multi_tensor.h"
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

void run_item(const SgdTable& k, const SgdTensor& s, const Item& it, const SgdHyper& h) {
  if (it.rows_mode) k.step_rows(s, it.begin, it.end, h);
  else k.step(s, it.begin, it.end, h);
}

// Max-norm along an inner axis (outer > 1): neuron j's weights are the `outer` segments
// w[o, j, :] of `inner` elements, rows*inner apart. Its sum of squares follows the canonical
// lanes segment after segment (o = 0, 1, ...), one fixed sequence per neuron.
//
// Reading neuron by neuron walks the weights with a stride of rows*inner elements (a column of
// a matrix touches a new cache line per element: 111 ms for 10000x1000 along axis 1). Instead a
// work item owns a block of neurons [j0, j1) and streams the slabs o = 0, 1, ...: the run
// w[o, j0:j1, :] is contiguous, and each neuron's lanes still receive its segments in o order,
// so the sums are the same bits as the neuron-by-neuron order. The blocks depend only on the
// shape (never on the thread count); all of them together read the weights once.

// Lanes a neuron's segment uses: element i of a segment goes to lane i % 16.
int64_t lanes_per_neuron(const SgdTensor& s) { return s.inner < 16 ? s.inner : 16; }

// Neurons per block: the block's accumulators stay within 64 KiB (L1/L2), a run per slab is at
// least 256 elements when the tensor allows (prefetch-friendly), and a tensor gives up to ~8
// blocks for the threads to share.
int64_t neurons_per_block(const SgdTensor& s) {
  const int64_t cap = 8192 / lanes_per_neuron(s);
  const int64_t eighth = (s.rows + 7) / 8;
  const int64_t min_run = (256 + s.inner - 1) / s.inner;
  int64_t nb = eighth > min_run ? eighth : min_run;
  if (nb > cap) nb = cap;
  if (nb > s.rows) nb = s.rows;
  return nb > 0 ? nb : 1;
}

// Element e of tensor s, as a byte address (the baseline layer never needs the element type).
char* elem(const SgdTensor& s, void* base, int64_t e) {
  return static_cast<char*>(base) + e * int64_t(dtype_size(s.dtype));
}

// Scale factors of neurons [j0, j1) of one tensor into sc[0, j1 - j0).
void block_scales(const SgdTable& k, const SgdTensor& s, int64_t j0, int64_t j1, double c, double* sc) {
  const int64_t L = lanes_per_neuron(s), nj = j1 - j0;
  std::vector<double> acc(size_t(nj * L), 0.0);
  for (int64_t o = 0; o < s.outer; ++o) {
    const char* run = elem(s, s.w, (o * s.rows + j0) * s.inner);
    if (s.inner < 16) {
      // (j, i) layout of the run == (j, lane) layout of acc: one element-wise pass.
      k.sumsq_add(s.dtype, run, nj * s.inner, acc.data());
    } else {
      const int64_t stride = s.inner * int64_t(dtype_size(s.dtype));
      for (int64_t j = 0; j < nj; ++j) k.lanes(s.dtype, run + j * stride, s.inner, nullptr, acc.data() + j * 16);
    }
  }
  for (int64_t j = 0; j < nj; ++j) {
    double sq[16] = {0};
    for (int64_t l = 0; l < L; ++l) sq[l] = acc[size_t(j * L + l)];
    sc[j] = sgd_max_norm_scale(sgd_lane_tree(sq), c);
  }
}

// Rescales one slab o of a tensor: w[o, j, :] *= sc[j] (rounded to the dtype) for every neuron
// with sc[j] != 1.
void scale_slab(const SgdTable& k, const SgdTensor& s, int64_t o, const double* sc) {
  for (int64_t j = 0; j < s.rows; ++j) {
    if (sc[j] == 1.0) continue;
    k.scale(s.dtype, elem(s, s.w, (o * s.rows + j) * s.inner), s.inner, sc[j]);
  }
}

void strided_max_norm(const SgdTable& k, const SgdTensor* ts, size_t count, double c) {
  struct Block { int32_t t; int64_t j0, j1; };
  std::vector<Block> blocks;
  std::vector<size_t> first_scale(count, 0);
  size_t nscales = 0;
  for (size_t t = 0; t < count; ++t) {
    const SgdTensor& s = ts[t];
    first_scale[t] = nscales;
    if (s.rows > 0 && !fused_rows(s) && s.n > 0) {
      const int64_t nb = neurons_per_block(s);
      for (int64_t j = 0; j < s.rows; j += nb)
        blocks.push_back({int32_t(t), j, j + nb < s.rows ? j + nb : s.rows});
      nscales += size_t(s.rows);
    }
  }
  if (blocks.empty()) return;
  std::vector<double> scales(nscales, 1.0);
  parallel_tasks(int64_t(blocks.size()), [&](int64_t q) {
    const Block& bl = blocks[size_t(q)];
    const SgdTensor& s = ts[bl.t];
    double* sc = scales.data() + first_scale[bl.t] + bl.j0;
    block_scales(k, s, bl.j0, bl.j1, c, sc);
  });
  // Rescale slab by slab (one outer index = rows contiguous segments), only tensors with at
  // least one neuron over the bound: within the bound the weights are not touched again.
  struct Slab { int32_t t; int64_t o; };
  std::vector<Slab> slabs;
  for (size_t t = 0; t < count; ++t) {
    const SgdTensor& s = ts[t];
    if (!(s.rows > 0 && !fused_rows(s) && s.n > 0)) continue;
    const double* sc = scales.data() + first_scale[t];
    bool any = false;
    for (int64_t j = 0; j < s.rows && !any; ++j) any = sc[j] != 1.0;
    if (any)
      for (int64_t o = 0; o < s.outer; ++o) slabs.push_back({int32_t(t), o});
  }
  parallel_tasks(int64_t(slabs.size()), [&](int64_t q) {
    const SgdTensor& s = ts[slabs[size_t(q)].t];
    const double* sc = scales.data() + first_scale[slabs[size_t(q)].t];
    scale_slab(k, s, slabs[size_t(q)].o, sc);
  });
}

}  // namespace

void sgd_step_multi(const SgdTensor* ts, size_t count, const SgdHyper& h) {
  const SgdTable& k = active_sgd_table();
  const std::vector<Item> items = plan_items(ts, count);
  // Items are claimed one at a time (parallel.h): a thread that starts late leaves its items to
  // the others; every item is computed the same way whoever runs it, so the bits do not change.
  parallel_tasks(int64_t(items.size()), [&](int64_t q) {
    const Item& it = items[size_t(q)];
    run_item(k, ts[it.t], it, h);
  });
  strided_max_norm(k, ts, count, h.max_norm);
  // 16-bit parameters of a float32 master under max-norm: rounded from the final (rescaled)
  // master here; without max-norm the step itself wrote them.
  const std::vector<TensorChunk> outs = tensor_chunks(count, kSgdChunk, [&](size_t t) {
    return (ts[t].half_out && ts[t].rows > 0) ? ts[t].n : int64_t(0);
  });
  parallel_tasks(int64_t(outs.size()), [&](int64_t q) {
    const TensorChunk& c = outs[size_t(q)];
    const SgdTensor& s = ts[c.t];
    k.narrow(s.half_dtype, static_cast<char*>(s.half_out) + c.begin * int64_t(dtype_size(s.half_dtype)),
             static_cast<const float*>(s.w) + c.begin, c.end - c.begin);
  });
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
  parallel_tasks(nc, [&](int64_t q) {
    const Chunk& c = chunks[size_t(q)];
    double a[16] = {0}, s[16] = {0};
    const PenaltyTensor& t = ts[c.t];
    k.lanes(t.dtype, static_cast<const char*>(t.x) + c.begin * int64_t(dtype_size(t.dtype)), c.end - c.begin, a, s);
    part[size_t(2 * q)] = sgd_lane_tree(a);
    part[size_t(2 * q + 1)] = sgd_lane_tree(s);
  });
  // Chunk partials in (tensor, chunk) order: the same sum for any thread count.
  double a = 0.0, s = 0.0;
  for (int64_t q = 0; q < nc; ++q) { a = a + part[2 * q]; s = s + part[2 * q + 1]; }
  sum_abs = a;
  sum_sq = s;
}

}}  // namespace regcore::cpu
