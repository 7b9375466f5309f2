// The registry and the backend-neutral timing loop (compiled into every module that runs cases).
#include "bench_case.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "timer.h"

namespace regcore { namespace bench {

double CaseRun::time(int inner) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < inner; ++i) run();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

void summarize(Timing& t) {
  std::vector<double> s = t.per_call_s;
  std::sort(s.begin(), s.end());
  const size_t k = s.size();
  t.min_s = s.front();
  t.max_s = s.back();
  t.median_s = (k % 2) ? s[k / 2] : 0.5 * (s[k / 2 - 1] + s[k / 2]);
}

void check_options(int64_t n, const TimerOptions& opt) {
  if (n < 1) throw std::invalid_argument("n: expected a positive element count");
  if (opt.repeats < 1) throw std::invalid_argument("repeats: expected at least 1");
  if (opt.warmup < 0) throw std::invalid_argument("warmup: expected >= 0");
}

void measure(CaseRun& r, const TimerOptions& opt, Timing& t) {
  double one = 0;
  for (int i = 0; i < std::max(1, opt.warmup); ++i) one = r.time(1);
  t.inner = 1;
  if (one > 0 && opt.min_sample_s > 0)
    t.inner = int(std::min<double>(opt.max_inner, std::max(1.0, std::ceil(opt.min_sample_s / one))));
  t.per_call_s.clear();
  for (int i = 0; i < opt.repeats; ++i) t.per_call_s.push_back(r.time(t.inner) / t.inner);
  summarize(t);
}

std::vector<CaseSpec>& registry() {
  // A function-local static: built on first use, so registration order across object files
  // (unspecified for file-scope initializers) cannot matter.
  static std::vector<CaseSpec> cases;
  return cases;
}

const CaseSpec* find_case(const std::string& name, const std::string& dtype) {
  for (const CaseSpec& c : registry())
    if (c.name() == name && c.dtype == dtype) return &c;
  return nullptr;
}

Register::Register(CaseSpec spec) {
  if (find_case(spec.name(), spec.dtype))
    throw std::logic_error("regcore bench: case " + spec.id() + " registered twice");
  registry().push_back(std::move(spec));
}

}}  // namespace regcore::bench
