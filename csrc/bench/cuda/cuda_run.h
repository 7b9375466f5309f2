// Building blocks of CUDA benchmark cases: device arrays set up once, and a CaseRun timed with
// CUDA events on a stream of its own, so the figure is device time for `inner` back-to-back
// launches (launch overhead is hidden behind the queue, as in a training step).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "../../cuda/launch.h"
#include "../bench_case.h"

namespace regcore { namespace bench {

template <class T>
class DeviceBuffer {
 public:
  // n elements, every byte set to `byte` (inputs get a defined value; outputs get mapped).
  explicit DeviceBuffer(int64_t n, int byte = 0) : n_(n) {
    cuda::check(cudaMalloc(&p_, size_t(n > 0 ? n : 1) * sizeof(T)), "cudaMalloc");
    cuda::check(cudaMemset(p_, byte, size_t(n) * sizeof(T)), "cudaMemset");
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer() { if (p_) cudaFree(p_); }
  T* data() { return p_; }
  int64_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  int64_t n_;
};

// F: void(uintptr_t stream), one launch on that stream.
template <class F>
class CudaRun final : public CaseRun {
 public:
  explicit CudaRun(F f) : f_(std::move(f)) {
    cuda::check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    cuda::check(cudaEventCreate(&start_), "cudaEventCreate");
    cuda::check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~CudaRun() override {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cudaStreamDestroy(stream_);
  }
  void run() override {
    f_(reinterpret_cast<uintptr_t>(stream_));
    cuda::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  double time(int inner) override {
    cuda::check(cudaEventRecord(start_, stream_), "cudaEventRecord");
    for (int i = 0; i < inner; ++i) f_(reinterpret_cast<uintptr_t>(stream_));
    cuda::check_launch("benchmark case");
    cuda::check(cudaEventRecord(stop_, stream_), "cudaEventRecord");
    cuda::check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float ms = 0;
    cuda::check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return double(ms) * 1e-3;
  }

 private:
  F f_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

template <class F>
std::unique_ptr<CaseRun> make_cuda_run(F f) {
  return std::unique_ptr<CaseRun>(new CudaRun<F>(std::move(f)));
}

inline int64_t no_state(int64_t) { return 0; }

}}  // namespace regcore::bench
