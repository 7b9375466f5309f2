#include "timer.h"

#include <algorithm>
#include <cmath>
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

void summarize(Timing& t) {
  std::vector<double> s = t.per_call_s;
  std::sort(s.begin(), s.end());
  const size_t k = s.size();
  t.min_s = s.front();
  t.max_s = s.back();
  t.median_s = (k % 2) ? s[k / 2] : 0.5 * (s[k / 2 - 1] + s[k / 2]);
}

Timing time_case(const CaseSpec& spec, int64_t n, int threads, const std::string& isa,
                 const TimerOptions& opt) {
  if (n < 1) throw std::invalid_argument("n: expected a positive element count");
  if (threads < 0) throw std::invalid_argument("threads: expected a positive integer (0: current)");
  if (opt.repeats < 1) throw std::invalid_argument("repeats: expected at least 1");
  if (opt.warmup < 0) throw std::invalid_argument("warmup: expected >= 0");
  ScopedSettings settings(threads, isa);

  Timing t;
  t.threads = cpu::max_threads();
  t.isa = cpu::isa_name(cpu::active_isa());
  t.min_bytes = spec.min_bytes(n);
  t.state_bytes = spec.state_bytes(n);

  std::unique_ptr<CaseRun> r = spec.setup(n);
  double one = 0;
  for (int i = 0; i < std::max(1, opt.warmup); ++i) one = r->time(1);
  if (one > 0 && opt.min_sample_s > 0)
    t.inner = int(std::min<double>(opt.max_inner, std::max(1.0, std::ceil(opt.min_sample_s / one))));
  for (int i = 0; i < opt.repeats; ++i) t.per_call_s.push_back(r->time(t.inner) / t.inner);
  summarize(t);
  return t;
}

}}  // namespace regcore::bench
