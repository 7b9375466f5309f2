// The native benchmark registry: every kernel a family wants measured is a CaseSpec registered
// from that family's own file (csrc/bench/cases_<family>.cpp) by a file-scope `Register`.
//
// A case says what it measures (family, kernel, dtype, backend), the MINIMUM bytes the kernel
// must move for n elements (and the formula, in words, for the report), the bytes of state it
// keeps for a backward pass, and how to set up a run: setup(n) allocates and first-touches every
// array once, outside the timed region, and returns a CaseRun whose run() is one kernel call.
//
// Compiled with baseline flags (no ISA flags): cases call the family's whole-array API
// (csrc/cpu/<family>_api.h), which goes through the active ISA table and the thread
// count, so the runner can sweep both from outside the case.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace regcore { namespace bench {

// One prepared instance of a case at a fixed size. Owns its arrays.
class CaseRun {
 public:
  virtual ~CaseRun() = default;
  virtual void run() = 0;  // one call of the kernel
  // Seconds taken by `inner` back-to-back calls. Host kernels: steady_clock around the loop.
  // A device case overrides this to time with device events on its stream, so the figure is
  // the kernel's own time, not launch or synchronization overhead.
  virtual double time(int inner);
};

// A CaseRun around any callable (usually a lambda that owns its buffers by move).
template <class F>
class LambdaRun final : public CaseRun {
 public:
  explicit LambdaRun(F f) : f_(std::move(f)) {}
  void run() override { f_(); }

 private:
  F f_;
};
template <class F>
std::unique_ptr<CaseRun> make_run(F f) {
  return std::unique_ptr<CaseRun>(new LambdaRun<F>(std::move(f)));
}

struct CaseSpec {
  std::string family;          // "random", "dropout", ... ("baseline" for the copy reference)
  std::string kernel;          // "normal", "forward", "backward", ...
  std::string dtype;           // NumPy dtype name of the main array: "float32", "uint32", ...
  std::string backend;         // "cpu" or "cuda"
  bool uses_isa;               // false: the active ISA level does not change the code that runs
  std::string bytes_formula;   // the minimum traffic in words, e.g. "read 4n + write 4n + write n/8"
  std::function<int64_t(int64_t n)> min_bytes;
  std::string state_formula;   // bytes kept for backward, in words ("0" when none)
  std::function<int64_t(int64_t n)> state_bytes;
  std::string items;           // what one element is, for the rate column: "samples", "elements"
  std::function<std::unique_ptr<CaseRun>(int64_t n)> setup;
  // Element counts this case runs at by default (full run / --quick). Empty: the runner's
  // defaults (64K, 1M, 16M / 64K, 1M). A case with a fixed geometry (a batch-norm layer shape,
  // an SGD step over 50k-element tensors) lists the n its shape allows; `shape` says how n is
  // laid out, for the report (empty: flat).
  std::vector<int64_t> sizes = {};
  std::vector<int64_t> quick_sizes = {};
  std::string shape = "";

  std::string name() const { return family + "." + kernel; }
  // Unique key: "random.normal:float32".
  std::string id() const { return name() + ":" + dtype; }
};

// Every case registered in this binary, in registration order (stable within a build).
std::vector<CaseSpec>& registry();
// nullptr when no case has that name and dtype.
const CaseSpec* find_case(const std::string& name, const std::string& dtype);

// File-scope registration: `static const Register r_xxx{CaseSpec{...}};`. The case files are
// linked as object files (never through a static archive) so these initializers always run.
struct Register {
  explicit Register(CaseSpec spec);
};

}}  // namespace regcore::bench
