#include "batchnorm_api.h"

#include <vector>

#include "../core/batchnorm.h"
#include "dispatch.h"
#include "parallel.h"

namespace regcore { namespace cpu {

namespace {

// Rows per piece in the cols layout: about kStreamChunk elements, at least one row.
inline int64_t cols_rows(int64_t C) { return C >= kStreamChunk ? 1 : kStreamChunk / (C > 0 ? C : 1); }

// The layout a (N, C, S) view runs in. S == 0 with N > 0 must not reach the cols kernels (they
// would walk N rows of C values of an array that has none), so every entry point asks here first
// and does nothing (or writes the empty-set result) when a channel has no values.
enum class Layout { kEmpty, kRows, kCols };
inline Layout layout(int64_t N, int64_t C, int64_t S) {
  if (N <= 0 || C <= 0 || S <= 0) return Layout::kEmpty;
  return S > 1 ? Layout::kRows : Layout::kCols;
}

// Passes over fewer elements than this run on the calling thread with the same chunks (so the
// same bits): waking a second thread costs more than the pass itself, and on a loaded machine a
// fork/join can wait for a descheduled thread for a whole time slice (milliseconds were measured
// for a 1 MB tensor with 2 threads).
constexpr int64_t kParallelMin = int64_t(1) << 17;

template <class F>
void bn_chunks(int64_t work, int64_t n, int64_t chunk, F&& f) {
  if (work >= kParallelMin) return parallel_chunks(n, chunk, f);
  for (int64_t b = 0; b < n; b += chunk) f(b, (b + chunk < n) ? b + chunk : n);
}
template <class P, class F>
std::vector<P> bn_chunk_partials(int64_t work, int64_t n, int64_t chunk, F&& f) {
  if (work >= kParallelMin) return parallel_chunk_partials<P>(n, chunk, f);
  std::vector<P> partials(size_t(chunk_count(n, chunk)));
  for (size_t c = 0; c < partials.size(); ++c) {
    const int64_t b = int64_t(c) * chunk;
    partials[c] = f(int64_t(c), b, (b + chunk < n) ? b + chunk : n);
  }
  return partials;
}

// Elements per chunk of the rows-layout elementwise passes (normalize, dx): kStreamChunk, but at
// least 16 chunks for a smaller array, so that two threads split it evenly (a (1, 64, 56, 56)
// batch was 3 full chunks and a sliver: one thread did two thirds of the pass). A multiple of 64
// elements, so runs start on a vector pair as before; the elements are independent, so the
// chunking never changes the bits.
inline int64_t elementwise_chunk(int64_t n) {
  const int64_t c = (n / 16 + 63) / 64 * 64;
  return c < 4096 ? 4096 : (c > kStreamChunk ? kStreamChunk : c);
}

// Outputs of kStreamMinBytes or more (parallel.h) are written with non-temporal stores.
// 16-bit outputs stream only where the kernels' rounding store writes whole lines (bfloat16 with
// AVX512_BF16, kernels/batchnorm.cpp); elsewhere the kernels ignore the flag for them.
int stream_output(DType dt, int64_t n) { return n * int64_t(dtype_size(dt)) >= kStreamMinBytes; }
// The cols kernels' second flag (kernels/batchnorm.cpp): passes over `arrays` arrays of n elements
// that touch at most this many bytes in all run a group of rows per coefficient load (from the
// caches: fewer loads, 1.5x faster); larger ones stream from memory, where the row loop's one
// stream per array was up to 3x faster (normalize of 8 MB, dx of 4 MB float32 arrays).
// Rows of at most kColsGroupRowBytes are grouped up to kColsGroupNarrowMaxBytes: a group of such
// rows is one contiguous run of each array, so it reads and writes the streams of the row loop
// while loading the coefficients a quarter as often (channels-last float32, 64 channels: dx of
// 4 MB arrays 10-20% faster, normalize of 8 MB arrays 20%; 32 channels: dx 25%). With 256
// channels a group's rows are four streams a kilobyte apart: dx of 4 MB arrays ran from 10%
// faster to 1.5x slower from run to run. From memory (64 channels, 64 MB arrays) grouping ran
// 10-15% slower even for narrow rows.
constexpr int64_t kColsGroupMaxBytes = int64_t(8) << 20;
constexpr int64_t kColsGroupRowBytes = 256;
constexpr int64_t kColsGroupNarrowMaxBytes = int64_t(24) << 20;
int cols_mode(DType dt, int64_t n, int64_t C, int arrays) {
  const int64_t z = int64_t(dtype_size(dt));
  const int64_t max_bytes = C * z <= kColsGroupRowBytes ? kColsGroupNarrowMaxBytes : kColsGroupMaxBytes;
  return stream_output(dt, n) | (arrays * n * z <= max_bytes ? 2 : 0);
}

// Calls f(q, c, i0, i1) for every piece q of every channel c in the rows layout, in parallel;
// pieces of channel c are q = c*pieces .. c*pieces + pieces - 1.
// Pieces are handed to threads in runs of at least kPieceTaskMin elements: group and instance
// norm see N*G or N*C "channels" of a few hundred elements, and one pool task per piece made the
// per-task claim (and threads writing neighbouring partial sums) cost more than the work: two
// threads ran slower than one. Which thread runs a piece never changes its result.
constexpr int64_t kPieceTaskMin = int64_t(1) << 14;

template <class F>
void for_row_pieces(int64_t N, int64_t C, int64_t S, int64_t pieces, F&& f) {
  const int64_t per_chan = N * S;
  const int64_t piece = per_chan < kRowsPiece ? per_chan : kRowsPiece;
  const int64_t run = piece >= kPieceTaskMin ? 1 : (kPieceTaskMin + piece - 1) / piece;
  bn_chunks(N * C * S, C * pieces, run, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t c = q / pieces, p = q - c * pieces;
      const int64_t i0 = p * kRowsPiece;
      const int64_t i1 = (i0 + kRowsPiece < per_chan) ? i0 + kRowsPiece : per_chan;
      f(q, c, i0, i1);
    }
  });
}

// The channel-by-channel schedule (bn_grad_passes): a channel's values are N runs of S spread
// over the whole array, so the two-pass backward reads dy and x from memory twice (5 arrays'
// bytes with dx). Taken one channel at a time, the dx pass finds the channel's dy and x in L2,
// where the sums just left them: 3 arrays' bytes. Only where dx is written with streaming stores:
// ordinary stores of dx pull its lines into L2 and evict dy and x (a 6.5 MB float16 or bfloat16 dx
// ran 8% slower than the flat passes; float32 and float64 over 8 MB ran 15% faster, bfloat16
// with AVX512_BF16 5%). Channels whose arrays take more than kChannelMaxBytes would not stay in a
// 1 MiB L2 (the AVX-512 machines measured); channels of fewer than kChannelMinValues values pay
// more for the per-channel calls (coefficients, kernel dispatch) than the cache saves. On the
// pool each channel is a task: with fewer than kChannelTasksPerThread channels a thread, one
// thread could be left with a whole channel more than the other, so the flat passes (split
// finer) run instead.
constexpr int64_t kChannelMaxBytes = int64_t(512) << 10;
constexpr int64_t kChannelMinValues = int64_t(4096);
constexpr int64_t kChannelTasksPerThread = 4;

}  // namespace

bool bn_channel_schedule(DType dt, int64_t N, int64_t C, int64_t S, int arrays) {
  if (layout(N, C, S) != Layout::kRows) return false;
  const int64_t per = N * S;
  if (per < kChannelMinValues || int64_t(arrays) * per * int64_t(dtype_size(dt)) > kChannelMaxBytes) return false;
  if (!stream_output(dt, N * C * S) || !active_batchnorm_table().streams(dt)) return false;
  return !bn_on_pool(N * C * S) || C >= kChannelTasksPerThread * int64_t(max_threads());
}

bool bn_on_pool(int64_t work) { return work >= kParallelMin; }
int bn_stream_output(DType dt, int64_t n) { return stream_output(dt, n); }

void bn_moments(DType dt, const void* x, int64_t N, int64_t C, int64_t S, double* out) {
  const auto& k = active_batchnorm_table();
  std::vector<Moments> total(size_t(C), Moments{0.0, 0.0, 0.0});
  const Layout lay = layout(N, C, S);
  if (lay == Layout::kRows) {
    const int64_t pieces = chunk_count(N * S, kRowsPiece);
    std::vector<double> part(size_t(2 * C * pieces));
    for_row_pieces(N, C, S, pieces, [&](int64_t q, int64_t c, int64_t i0, int64_t i1) {
      k.moments_rows(dt, x, C, S, c, i0, i1, &part[size_t(2 * q)]);
    });
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < pieces; ++p) {
        const int64_t i0 = p * kRowsPiece, i1 = (i0 + kRowsPiece < N * S) ? i0 + kRowsPiece : N * S;
        const size_t q = size_t(c * pieces + p);
        total[c] = chan_merge(total[c], Moments{double(i1 - i0), part[2 * q], part[2 * q + 1]});
      }
  } else if (lay == Layout::kCols) {
    const int64_t R = cols_rows(C);
    auto parts = bn_chunk_partials<std::vector<double>>(N * C, N, R, [&](int64_t, int64_t r0, int64_t r1) {
      std::vector<double> v(size_t(2 * C));
      k.moments_cols(dt, x, C, r0, r1, v.data(), v.data() + C);
      return v;
    });
    // One shift for all chunks (row 0): their sums add, in chunk order, then one division each.
    std::vector<double> s(size_t(C), 0.0), q(size_t(C), 0.0);
    for (const auto& v : parts)
      for (int64_t c = 0; c < C; ++c) {
        s[size_t(c)] += v[size_t(c)];
        q[size_t(c)] += v[size_t(C + c)];
      }
    std::vector<double> shift(static_cast<size_t>(C));  // row 0 of x, the kernels' shift
    active_convert_table().to_f64(dt, x, shift.data(), C);
    for (int64_t c = 0; c < C; ++c) {
      total[c].n = double(N);
      shifted_moments(double(N), moment_shift(shift[size_t(c)]), s[size_t(c)], q[size_t(c)], &total[c].mean,
                      &total[c].m2);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    out[c] = total[c].n;
    out[C + c] = total[c].mean;
    out[2 * C + c] = total[c].m2;
  }
}

void bn_normalize(DType dt, const void* x, void* y, int64_t N, int64_t C, int64_t S, const BnCoef& kc, bool relu) {
  const auto& k = active_batchnorm_table();
  const int nt = stream_output(dt, N * C * S);
  const Layout lay = layout(N, C, S);
  if (lay == Layout::kRows) {
    bn_chunks(N * C * S, N * C * S, elementwise_chunk(N * C * S),
              [&](int64_t b, int64_t e) { k.normalize_rows(dt, x, y, C, S, b, e, kc, relu, nt); });
  } else if (lay == Layout::kCols) {
    const int mode = cols_mode(dt, N * C, C, 2);
    bn_chunks(N * C, N, cols_rows(C),
                    [&](int64_t b, int64_t e) { k.normalize_cols(dt, x, y, C, b, e, kc, relu, mode); });
  }
}

void bn_grad_reduce(DType dt, const void* dy, const void* x, int64_t N, int64_t C, int64_t S, const BnCoef& kc,
                    bool relu, double* out) {
  const auto& k = active_batchnorm_table();
  for (int64_t i = 0; i < 2 * C; ++i) out[i] = 0.0;
  const Layout lay = layout(N, C, S);
  if (lay == Layout::kRows) {
    const int64_t pieces = chunk_count(N * S, kRowsPiece);
    std::vector<double> part(size_t(2 * C * pieces));
    for_row_pieces(N, C, S, pieces, [&](int64_t q, int64_t c, int64_t i0, int64_t i1) {
      k.grad_reduce_rows(dt, dy, x, C, S, c, i0, i1, kc, relu, &part[size_t(2 * q)]);
    });
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < pieces; ++p) {
        const size_t q = size_t(c * pieces + p);
        out[c] += part[2 * q];
        out[C + c] += part[2 * q + 1];
      }
  } else if (lay == Layout::kCols) {
    auto parts = bn_chunk_partials<std::vector<double>>(N * C, N, cols_rows(C), [&](int64_t, int64_t r0, int64_t r1) {
      std::vector<double> v(size_t(2 * C));
      k.grad_reduce_cols(dt, dy, x, C, r0, r1, kc, relu, v.data(), v.data() + C);
      return v;
    });
    for (const auto& v : parts)
      for (int64_t i = 0; i < 2 * C; ++i) out[i] += v[size_t(i)];
  }
}

void bn_grad_apply(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S,
                   const BnCoef& kc, const BnGradCoef& g, bool relu) {
  const auto& k = active_batchnorm_table();
  const int nt = stream_output(dt, N * C * S);
  const Layout lay = layout(N, C, S);
  if (lay == Layout::kRows) {
    bn_chunks(N * C * S, N * C * S, elementwise_chunk(N * C * S),
              [&](int64_t b, int64_t e) { k.grad_apply_rows(dt, dy, x, dx, C, S, b, e, kc, g, relu, nt); });
  } else if (lay == Layout::kCols) {
    const int mode = cols_mode(dt, N * C, C, 3);
    bn_chunks(N * C, N, cols_rows(C),
                    [&](int64_t b, int64_t e) { k.grad_apply_cols(dt, dy, x, dx, C, b, e, kc, g, relu, mode); });
  }
}

void bn_grad_passes(DType dt, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t S,
                    const BnCoef& kc, const BnGradCoef& g, bool relu, const BnGradCoefFn& coef) {
  if (!bn_channel_schedule(dt, N, C, S, 2)) {
    std::vector<double> red(size_t(2 * C));
    bn_grad_reduce(dt, dy, x, N, C, S, kc, relu, red.data());
    coef(0, C, red.data());
    bn_grad_apply(dt, dy, x, dx, N, C, S, kc, g, relu);
    return;
  }
  const auto& k = active_batchnorm_table();
  const int nt = stream_output(dt, N * C * S);
  const int64_t per = N * S;
  bn_chunks(N * C * S, C, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      // bn_grad_reduce's sums of this channel: its pieces' partial sums added to zero in piece order
      double red[2] = {0.0, 0.0};
      for (int64_t i0 = 0; i0 < per; i0 += kRowsPiece) {
        double part[2];
        k.grad_reduce_rows(dt, dy, x, C, S, c, i0, i0 + kRowsPiece < per ? i0 + kRowsPiece : per, kc, relu, part);
        red[0] += part[0];
        red[1] += part[1];
      }
      coef(c, 1, red);
      k.grad_apply_chan(dt, dy, x, dx, C, S, c, 0, per, kc, g, relu, nt);
    }
  });
}

}}  // namespace regcore::cpu
