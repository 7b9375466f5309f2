// Host memory for large CPU outputs that stays mapped between calls (a bounded caching allocator).
//
// Why: glibc serves allocations of 32 MB and more with mmap and unmaps them on free, so a training
// loop that allocates the same 64 MB output every step pays first-touch page faults on all of it
// every step (about 40% of a 16M-element dropout's time). host_buffer(n) hands out a HostBuffer:
// a Python object that owns n writable bytes (buffer protocol) and, when its last reference dies
// (every NumPy view and every torch.from_numpy tensor over it keep one), gives the memory back
// here instead of to the system. The next request of the same rounded size takes the newest such
// buffer, its pages already faulted in.
//
// A buffer is reachable from Python only through its HostBuffer, so it is cached (and handed out
// again) only once no view of it can exist. The cache holds at most limit() bytes of idle
// buffers: a returned buffer evicts the oldest idle ones to fit, and one larger than the limit is
// freed at once (limit 0: no caching at all). Kernels never see any of this: they get pointers.
//
// The state sits behind one mutex and no Python code runs while it is held: a HostBuffer may die
// on any thread that holds the GIL (torch frees tensors on its autograd threads), and a
// free-threaded interpreter holds none.
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace regcore { namespace bindings {

namespace py = pybind11;

namespace {

constexpr size_t kPage = 4096;
// Buffers of 4 MiB or more start on a 2 MiB boundary and ask for transparent huge pages (as
// NumPy's own allocator asks from 4 MiB on): a huge page is one fault instead of 512.
constexpr size_t kHugeFrom = size_t(4) << 20;
constexpr size_t kHuge = size_t(2) << 20;
constexpr size_t kLineAlign = 64;  // non-temporal vector stores want at least a cache line

size_t rounded(size_t n) { return (n + kPage - 1) / kPage * kPage; }

void* system_alloc(size_t cap) {
  const size_t align = cap >= kHugeFrom ? kHuge : kLineAlign;
  void* p = nullptr;
  if (posix_memalign(&p, align, cap) != 0) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (cap >= kHugeFrom) madvise(p, cap, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
  return p;
}

struct Idle {
  void* p;
  size_t cap;
};

class BufferCache {
 public:
  void* take(size_t cap) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = idle_.size(); i-- > 0;) {  // newest first: the most recently touched pages
        if (idle_[i].cap != cap) continue;
        void* p = idle_[i].p;
        idle_.erase(idle_.begin() + std::ptrdiff_t(i));
        idle_bytes_ -= cap;
        ++hits_;
        return p;
      }
      ++misses_;
    }
    try {
      return system_alloc(cap);
    } catch (const std::bad_alloc&) {  // idle buffers of other sizes may be what is missing
      clear();
      return system_alloc(cap);
    }
  }

  void give(void* p, size_t cap) {
    std::vector<void*> freed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cap > limit_) {
        freed.push_back(p);
      } else {
        evict_until(limit_ - cap, freed);
        idle_.push_back({p, cap});
        idle_bytes_ += cap;
      }
    }
    for (void* q : freed) std::free(q);
  }

  size_t set_limit(size_t limit) {
    std::vector<void*> freed;
    size_t old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      old = limit_;
      limit_ = limit;
      evict_until(limit_, freed);
    }
    for (void* q : freed) std::free(q);
    return old;
  }

  void clear() {
    std::vector<void*> freed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      evict_until(0, freed);
    }
    for (void* q : freed) std::free(q);
  }

  py::dict info() {
    size_t limit, bytes, count;
    uint64_t hits, misses;
    {
      std::lock_guard<std::mutex> lock(mu_);
      limit = limit_, bytes = idle_bytes_, count = idle_.size(), hits = hits_, misses = misses_;
    }
    py::dict d;
    d["limit"] = limit;
    d["cached_bytes"] = bytes;
    d["cached_buffers"] = count;
    d["hits"] = hits;
    d["misses"] = misses;
    return d;
  }

 private:
  // Oldest idle buffers out until at most `room` bytes stay; the caller frees them unlocked.
  void evict_until(size_t room, std::vector<void*>& freed) {
    size_t n = 0;
    while (n < idle_.size() && idle_bytes_ > room) {
      idle_bytes_ -= idle_[n].cap;
      freed.push_back(idle_[n].p);
      ++n;
    }
    idle_.erase(idle_.begin(), idle_.begin() + std::ptrdiff_t(n));
  }

  std::mutex mu_;
  std::vector<Idle> idle_;  // in the order they were returned, oldest first
  size_t idle_bytes_ = 0;
  size_t limit_ = 0;  // the Python layer sets it at import (default or REGCORE_BUFFER_CACHE_MB)
  uint64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: HostBuffers may outlive static destruction order at interpreter exit.
BufferCache& cache() {
  static BufferCache* c = new BufferCache();
  return *c;
}

class HostBuffer {
 public:
  explicit HostBuffer(size_t n) : cap_(rounded(n == 0 ? 1 : n)), n_(n), p_(cache().take(cap_)) {}
  ~HostBuffer() { cache().give(p_, cap_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  void* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  size_t cap_, n_;
  void* p_;
};

}  // namespace

void bind_buffer_cache_cpu(py::module_& m) {
  py::class_<HostBuffer>(m, "HostBuffer", py::buffer_protocol())
      .def_buffer([](HostBuffer& b) {
        return py::buffer_info(b.data(), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {py::ssize_t(b.size())}, {py::ssize_t(1)}, /*readonly=*/false);
      })
      .def_property_readonly("address", [](const HostBuffer& b) { return reinterpret_cast<uintptr_t>(b.data()); })
      .def_property_readonly("nbytes", &HostBuffer::size);
  m.def("host_buffer", [](size_t n) { return new HostBuffer(n); }, py::arg("nbytes"),
        py::return_value_policy::take_ownership);
  m.def("set_buffer_cache_limit", [](size_t limit) { return cache().set_limit(limit); }, py::arg("nbytes"));
  m.def("empty_buffer_cache", [] { cache().clear(); });
  m.def("buffer_cache_info", [] { return cache().info(); });
}

}}  // namespace regcore::bindings
