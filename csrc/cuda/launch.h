// Launch helpers shared by every CUDA kernel file: stream handles, grid sizing, error checks.
// Host-only code; the kernels themselves stay thin loops around core/ functors.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace regcore { namespace cuda {

// The stream values of the DLPack protocol are CUDA's own: 1 = cudaStreamLegacy,
// 2 = cudaStreamPerThread, anything else a cudaStream_t handle.
inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("regcore CUDA: ") + what + ": " + cudaGetErrorString(err));
}

// Launch errors surface at the launch; asynchronous faults at the caller's next sync.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;

// Enough blocks to fill the device a few times over; kernels use grid-stride loops, so the
// result never depends on the grid (random draws are keyed to element indices only).
inline unsigned grid_for(int64_t work_items, int threads = kThreads) {
  int64_t blocks = (work_items + threads - 1) / threads;
  int dev = 0, sms = 80;
  if (cudaGetDevice(&dev) == cudaSuccess) cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int64_t cap = int64_t(sms) * 32;
  if (blocks > cap) blocks = cap;
  return unsigned(blocks < 1 ? 1 : blocks);
}

// Sets the current device for the scope of a call and restores it afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (device != previous_) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}}  // namespace regcore::cuda
