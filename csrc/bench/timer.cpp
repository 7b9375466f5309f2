#include "timer.h"

#include <stdexcept>

#include "../cpu/dispatch.h"
#include "../cpu/parallel.h"

namespace regcore { namespace bench {

namespace {

// Restores the process-wide ISA level and thread count on scope exit.
class ScopedSettings {
 public:
  ScopedSettings(int threads, const std::string& isa)
      : isa_(cpu::active_isa()), threads_(cpu::max_threads()) {
    if (!isa.empty()) cpu::set_active_isa(cpu::isa_from_name(isa));
    if (threads > 0) cpu::set_threads(threads);
  }
  ~ScopedSettings() {
    cpu::set_active_isa(isa_);
    cpu::set_threads(threads_);
  }

 private:
  cpu::Isa isa_;
  int threads_;
};

}  // namespace

Timing time_case(const CaseSpec& spec, int64_t n, int threads, const std::string& isa,
                 const TimerOptions& opt) {
  check_options(n, opt);
  if (threads < 0) throw std::invalid_argument("threads: expected a positive integer (0: current)");
  ScopedSettings settings(threads, isa);

  Timing t;
  t.threads = cpu::max_threads();
  t.isa = cpu::isa_name(cpu::active_isa());
  t.min_bytes = spec.min_bytes(n);
  t.state_bytes = spec.state_bytes(n);
  std::unique_ptr<CaseRun> r = spec.setup(n);
  measure(*r, opt, t);
  return t;
}

}}  // namespace regcore::bench
