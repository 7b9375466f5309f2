// simt.h -- execute CUDA C++ kernels on a CPU, for logic tests (regcore test harness).
//
// Compile the .cu source as plain C++ with this header forced in (-include simt.h) and the
// launches rewritten by simt_rewrite.py. One kernel launch runs its blocks one after another
// on the calling OS thread; inside a block every CUDA thread is a ucontext fiber that runs
// until it reaches a synchronisation point (__syncthreads, a *_sync warp intrinsic) or exits.
// The scheduler then resolves warp collectives (all lanes named in the mask must be waiting at
// the same intrinsic with the same mask) and block barriers (all live threads waiting), and
// reports -- instead of hanging or silently mis-computing -- divergent barriers, ballots over
// exited or absent lanes, reads of inactive shuffle lanes and deadlocks.
//
// SIMT_ORDER=fwd|rev|rand:<seed> changes the order in which threads run between barriers and
// the order of blocks, so a kernel whose result depends on it (a missing __syncthreads, an
// inter-block race) gives different bits under two orders. SIMT_SMS sets the SM count that
// cudaDeviceGetAttribute reports (default 2: small grids, so grid-stride loops wrap).
#pragma once
#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

// ---- language: qualifiers and built-ins -------------------------------------------------------
#ifndef __CUDACC__
#define __CUDACC__ 1  // take the device branches of shared headers
#endif
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900
#endif
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static  // blocks run one at a time on one OS thread
#define __constant__

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) double2 { double x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(4) uchar4 { unsigned char x, y, z, w; };
inline double2 make_double2(double x, double y) { return {x, y}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uchar4 make_uchar4(unsigned char x, unsigned char y, unsigned char z, unsigned char w) { return {x, y, z, w}; }
constexpr int warpSize = 32;

// Bit-level intrinsics used by shared headers on their device paths.
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; std::memcpy(&x, &u, 4); return x; }
inline long long __double_as_longlong(double x) { long long u; std::memcpy(&u, &x, 8); return u; }
inline double __longlong_as_double(long long u) { double x; std::memcpy(&x, &u, 8); return x; }
inline float __fsqrt_rn(float x) { return __builtin_sqrtf(x); }
inline double __dsqrt_rn(double x) { return __builtin_sqrt(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}

namespace simt {

class Error : public std::runtime_error { using std::runtime_error::runtime_error; };

enum class St { Run, Sync, Warp, Done };
enum class Op { Ballot, Shfl, ShflDown, ShflUp, ShflXor, SyncWarp };

struct Fiber {
  ucontext_t ctx;
  uint3 tid;
  int lin = 0;
  St st = St::Run;
  Op op{};
  unsigned mask = 0;
  uint64_t val = 0;  // ballot predicate or shuffled bits
  int arg = 0, width = 32;
  uint64_t result = 0;
  int sync_site = 0;  // which __syncthreads call (by order) for diagnostics
};

struct State {
  dim3 grid, block;
  uint3 bid{0, 0, 0};
  std::vector<Fiber> fib;
  std::vector<std::vector<char>> stacks;
  ucontext_t sched;
  Fiber* cur = nullptr;
  const std::function<void()>* body = nullptr;
  std::string fault;      // first error raised inside a fiber
  std::string kernel;     // name of the launch, for messages
  std::string order = "fwd";
  uint64_t seed = 0;
  std::mt19937_64 rng;
  int sms = 2;
  int last_error = 0;
  State() {
    if (const char* o = std::getenv("SIMT_ORDER")) {
      std::string s(o);
      if (s.rfind("rand", 0) == 0) {
        order = "rand";
        seed = s.size() > 5 ? std::strtoull(s.c_str() + 5, nullptr, 10) : 1;
      } else {
        order = s;
      }
    }
    rng.seed(seed);
    if (const char* m = std::getenv("SIMT_SMS")) sms = std::atoi(m);
  }
};
inline State& S() { static State s; return s; }

inline std::string where(const Fiber& f) {
  char b[160];
  const State& s = S();
  std::snprintf(b, sizeof b, "%s block (%u,%u,%u) thread (%u,%u,%u) [warp %d lane %d]", s.kernel.c_str(), s.bid.x,
                s.bid.y, s.bid.z, f.tid.x, f.tid.y, f.tid.z, f.lin / 32, f.lin % 32);
  return b;
}

[[noreturn]] inline void fail(const std::string& msg) {
  // Raised inside a fiber: recorded, the fiber ends, the launch reports it after the block.
  throw Error(msg);
}

inline void yield() { swapcontext(&S().cur->ctx, &S().sched); }

inline void trampoline() {
  State& s = S();
  try {
    (*s.body)();
  } catch (const std::exception& e) {
    if (s.fault.empty()) s.fault = e.what();
  }
  s.cur->st = St::Done;
  swapcontext(&s.cur->ctx, &s.sched);
}

// A warp collective: record, wait for the scheduler to resolve it, return the result.
inline uint64_t collective(Op op, unsigned mask, uint64_t val, int arg, int width) {
  State& s = S();
  Fiber& f = *s.cur;
  const int lane = f.lin % 32;
  if (!((mask >> lane) & 1u)) fail(where(f) + ": *_sync intrinsic called by a lane not set in its mask");
  if (width <= 0 || width > 32 || (width & (width - 1))) fail(where(f) + ": shuffle width not a power of 2 <= 32");
  f.op = op; f.mask = mask; f.val = val; f.arg = arg; f.width = width;
  f.st = St::Warp;
  yield();
  return f.result;
}

// Resolve every complete warp collective; true if any thread was released.
inline bool resolve_warps() {
  State& s = S();
  const int n = int(s.fib.size());
  bool released = false;
  for (int w0 = 0; w0 < n; w0 += 32) {
    for (int l = 0; l < 32 && w0 + l < n; ++l) {
      Fiber& f = s.fib[w0 + l];
      if (f.st != St::Warp) continue;
      // Every lane named in f's mask must exist, be live and wait at the same op with the same mask.
      bool complete = true;
      for (int m = 0; m < 32; ++m) {
        if (!((f.mask >> m) & 1u)) continue;
        if (w0 + m >= n)
          throw Error(where(f) + ": mask names lane " + std::to_string(m) + ", which is not in the block (partial warp)");
        const Fiber& g = s.fib[w0 + m];
        if (g.st == St::Done)
          throw Error(where(f) + ": mask names lane " + std::to_string(m) + ", which has already exited");
        if (g.st != St::Warp) { complete = false; continue; }
        if (g.op != f.op || g.mask != f.mask)
          throw Error(where(f) + ": lanes of one mask wait at different warp intrinsics (divergent warp collective)");
      }
      if (!complete) continue;
      uint64_t ballot = 0;
      for (int m = 0; m < 32; ++m)
        if ((f.mask >> m) & 1u && s.fib[w0 + m].val) ballot |= 1ull << m;
      const unsigned mask = f.mask;
      for (int m = 0; m < 32; ++m) {
        if (!((mask >> m) & 1u)) continue;
        Fiber& g = s.fib[w0 + m];
        const int w = g.width, base = (m / w) * w, pos = m % w;
        int src = m;
        switch (g.op) {
          case Op::Ballot: g.result = ballot; break;
          case Op::SyncWarp: g.result = 0; break;
          case Op::Shfl: src = base + (((g.arg % w) + w) % w); break;
          case Op::ShflDown: src = pos + g.arg < w ? m + g.arg : m; break;
          case Op::ShflUp: src = pos - g.arg >= 0 ? m - g.arg : m; break;
          case Op::ShflXor: src = ((m ^ g.arg) / w == m / w) ? (m ^ g.arg) : m; break;
        }
        if (g.op != Op::Ballot && g.op != Op::SyncWarp) {
          if (!((mask >> src) & 1u))
            throw Error(where(g) + ": shuffle reads lane " + std::to_string(src) + ", which is not in the mask (undefined value)");
          g.result = s.fib[w0 + src].val;
        }
      }
      for (int m = 0; m < 32; ++m)
        if ((mask >> m) & 1u) s.fib[w0 + m].st = St::Run;
      released = true;
    }
  }
  return released;
}

inline bool resolve_barrier() {
  State& s = S();
  int waiting = 0, done = 0, other = 0;
  const Fiber* first = nullptr;
  for (const Fiber& f : s.fib) {
    if (f.st == St::Sync) { ++waiting; if (!first) first = &f; }
    else if (f.st == St::Done) ++done;
    else ++other;
  }
  if (waiting == 0 || other > 0) return false;
  if (done > 0)
    throw Error(where(*first) + ": __syncthreads reached while " + std::to_string(done) +
                " thread(s) of the block have exited (barrier in divergent code)");
  for (Fiber& f : s.fib) f.st = St::Run;
  return true;
}

[[noreturn]] inline void deadlock() {
  State& s = S();
  std::string msg = s.kernel + ": deadlock in block (" + std::to_string(s.bid.x) + "," + std::to_string(s.bid.y) + "): ";
  int shown = 0;
  for (const Fiber& f : s.fib) {
    if (f.st == St::Done || shown >= 4) continue;
    msg += "\n  " + where(f) + (f.st == St::Sync ? " waits at __syncthreads" : " waits at a warp intrinsic");
    ++shown;
  }
  msg += "\n  (threads at __syncthreads while others wait at warp intrinsics, or a mask names a lane that never arrives)";
  throw Error(msg);
}

inline std::vector<int> order_of(int n) {
  State& s = S();
  std::vector<int> o(n);
  std::iota(o.begin(), o.end(), 0);
  if (s.order == "rev") std::reverse(o.begin(), o.end());
  else if (s.order == "rand") std::shuffle(o.begin(), o.end(), s.rng);
  return o;
}

inline void run_block(const std::function<void()>& body) {
  State& s = S();
  const int n = int(s.block.x * s.block.y * s.block.z);
  constexpr size_t kStack = 256 * 1024;
  if (s.stacks.size() < size_t(n)) s.stacks.resize(n);
  s.fib.assign(n, Fiber{});
  s.body = &body;
  for (int i = 0; i < n; ++i) {
    Fiber& f = s.fib[i];
    f.lin = i;
    f.tid = uint3{unsigned(i % s.block.x), unsigned((i / s.block.x) % s.block.y), unsigned(i / (s.block.x * s.block.y))};
    if (s.stacks[i].size() < kStack) s.stacks[i].resize(kStack);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = s.stacks[i].data();
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, trampoline, 0);
  }
  for (;;) {
    bool ran = false;
    for (int i : order_of(n)) {
      Fiber& f = s.fib[i];
      if (f.st != St::Run) continue;
      s.cur = &f;
      swapcontext(&s.sched, &f.ctx);
      s.cur = nullptr;
      ran = true;
      if (!s.fault.empty()) throw Error(s.fault);
    }
    bool all_done = std::all_of(s.fib.begin(), s.fib.end(), [](const Fiber& f) { return f.st == St::Done; });
    if (all_done) return;
    if (resolve_warps()) continue;
    if (resolve_barrier()) continue;
    if (!ran) deadlock();
    deadlock();
  }
}

struct LaunchCfg {
  dim3 grid, block;
  LaunchCfg(dim3 g, dim3 b, size_t = 0, void* = nullptr) : grid(g), block(b) {}
};

// kernel<<<cfg>>>(args...) is rewritten to launch(LaunchCfg(cfg), [&](auto... a) { kernel(a...); }, args...):
// the arguments are evaluated once, on the host, and each CUDA thread gets its own copy.
template <class K, class... A>
void launch(const LaunchCfg& cfg, K&& kernel, A... args) {
  State& s = S();
  if (cfg.block.x * cfg.block.y * cfg.block.z == 0 || cfg.block.x * cfg.block.y * cfg.block.z > 1024 ||
      cfg.grid.x == 0 || cfg.grid.y == 0 || cfg.grid.z == 0 || cfg.grid.y > 65535 || cfg.grid.z > 65535) {
    s.last_error = 9;  // cudaErrorInvalidConfiguration
    return;
  }
  s.grid = cfg.grid;
  s.block = cfg.block;
  s.fault.clear();
  s.kernel = "kernel<<<(" + std::to_string(cfg.grid.x) + "," + std::to_string(cfg.grid.y) + "),(" +
             std::to_string(cfg.block.x) + "," + std::to_string(cfg.block.y) + ")>>>";
  std::function<void()> body = [&]() { kernel(args...); };
  const int nb = int(cfg.grid.x * cfg.grid.y * cfg.grid.z);
  for (int b : order_of(nb)) {
    s.bid = uint3{unsigned(b % cfg.grid.x), unsigned((b / cfg.grid.x) % cfg.grid.y), unsigned(b / (cfg.grid.x * cfg.grid.y))};
    run_block(body);
  }
}

inline Fiber& me() {
  if (!S().cur) throw Error("device built-in used outside a kernel");
  return *S().cur;
}

}  // namespace simt

#define threadIdx (::simt::me().tid)
#define blockIdx (::simt::S().bid)
#define blockDim (::simt::S().block)
#define gridDim (::simt::S().grid)

inline void __syncthreads() {
  simt::Fiber& f = simt::me();
  f.st = simt::St::Sync;
  simt::yield();
}
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu) { simt::collective(simt::Op::SyncWarp, mask, 0, 0, 32); }
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return unsigned(simt::collective(simt::Op::Ballot, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }

namespace simt {
template <class T>
T shuffle(Op op, unsigned mask, T v, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a 32- or 64-bit value");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  const uint64_t r = collective(op, mask, bits, arg, width);
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}
}  // namespace simt
template <class T> T __shfl_sync(unsigned m, T v, int src, int w = 32) { return simt::shuffle(simt::Op::Shfl, m, v, src, w); }
template <class T> T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) { return simt::shuffle(simt::Op::ShflDown, m, v, int(d), w); }
template <class T> T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) { return simt::shuffle(simt::Op::ShflUp, m, v, int(d), w); }
template <class T> T __shfl_xor_sync(unsigned m, T v, int lm, int w = 32) { return simt::shuffle(simt::Op::ShflXor, m, v, lm, w); }

// ---- runtime API: "device" memory is host memory; streams are synchronous ----------------------
typedef int cudaError_t;
enum : int { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
typedef struct CUstream_st* cudaStream_t;
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    default: return "simt error";
  }
}
inline cudaError_t cudaGetLastError() { int e = simt::S().last_error; simt::S().last_error = 0; return e; }
inline cudaError_t cudaPeekAtLastError() { return simt::S().last_error; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  *v = a == cudaDevAttrMultiProcessorCount ? simt::S().sms : 0;
  return cudaSuccess;
}
// Fresh allocations are filled with 0xFF bytes (a NaN for float and double), so a kernel that
// reads scratch memory it never wrote shows up in the results.
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256 + 256);
  if (!*p) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xFF, n);
  return cudaSuccess;
}
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memmove(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t) { return cudaMemcpy(d, s, n, k); }
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { std::memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
// What the bindings (csrc/bindings/*_cuda.cpp, device_view.cpp) call besides launches, for the
// Python module over the emulated kernels (sim_module.cpp): every pointer is host memory on
// "device 0", and with synchronous streams an event has nothing to order.
struct cudaPointerAttributes { int type; int device; void* devicePointer; void* hostPointer; };
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  a->type = 2; a->device = 0; a->devicePointer = const_cast<void*>(p); a->hostPointer = const_cast<void*>(p);
  return cudaSuccess;
}
typedef struct CUevent_st* cudaEvent_t;
enum : unsigned { cudaEventDisableTiming = 2 };
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { *e = nullptr; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
