// Page-aligned arrays for benchmark cases, first-touched in parallel with the same fixed chunks
// the kernels use, so page faults happen in setup (never in the timed region) and each page is
// placed on the memory node of the thread that will stream it.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "../cpu/parallel.h"

namespace regcore { namespace bench {

template <class T>
class Buffer {
 public:
  static constexpr size_t kAlign = 4096;

  // n elements, each set to `fill` (T's bytes): inputs get plausible values, outputs get their
  // pages mapped before timing.
  explicit Buffer(int64_t n, T fill = T{}) : n_(n) {  // T{}: zero bits, 16-bit structs too
    const size_t bytes = size_t(n > 0 ? n : 1) * sizeof(T);
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    p_ = static_cast<T*>(std::aligned_alloc(kAlign, rounded));
    if (!p_) throw std::bad_alloc();
    T* p = p_;
    cpu::parallel_chunks(n, cpu::kStreamChunk, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = fill;
    });
  }
  Buffer(Buffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  Buffer& operator=(Buffer&&) = delete;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(p_); }

  T* data() { return p_; }
  const T* data() const { return p_; }
  int64_t size() const { return n_; }

 private:
  T* p_;
  int64_t n_;
};

}}  // namespace regcore::bench
