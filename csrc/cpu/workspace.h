// Per-call float64 working arrays without a heap allocation per call: up to kWorkspaceKeep
// values come from a buffer of the calling thread, reused from call to call (the shapes a
// training loop repeats); a larger request gets its own allocation for the call, so one huge
// call does not keep its memory for the life of the thread.
#pragma once
#include <cstddef>
#include <vector>

namespace regcore { namespace cpu {

constexpr size_t kWorkspaceKeep = size_t(1) << 17;   // 1 MiB

// Tag: one per-thread buffer per user, so two workspaces alive at once never share one.
template <class Tag>
class Workspace {
 public:
  explicit Workspace(size_t n) {
    if (n > kWorkspaceKeep) {
      own_.resize(n);
      p_ = own_.data();
      return;
    }
    thread_local std::vector<double> kept;
    if (kept.size() < n) kept.resize(n);
    p_ = kept.data();
  }
  double* data() { return p_; }

 private:
  std::vector<double> own_;
  double* p_;
};

}}  // namespace regcore::cpu
