// Times one registered case at one size, ISA level and thread count.
//
// Protocol: setup once (untimed); `warmup` calls, the last of which also estimates the time of
// one call; then `inner` = enough back-to-back calls for one sample to last at least
// min_sample_s (clock resolution and loop overhead vanish on small, cache-resident sizes);
// then `repeats` samples. Each sample is reported as seconds PER CALL; the report uses the
// median (robust on a shared, noisy machine) and shows min and max beside it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bench_case.h"

namespace regcore { namespace bench {

struct TimerOptions {
  int warmup = 2;
  int repeats = 7;
  double min_sample_s = 2e-3;
  int max_inner = 1 << 14;
};

struct Timing {
  std::vector<double> per_call_s;  // one per repeat
  double median_s = 0, min_s = 0, max_s = 0;
  int inner = 1;
  int threads = 1;
  std::string isa;                 // the level that was active while timing
  int64_t min_bytes = 0, state_bytes = 0;
};

// The timing loop alone, on a prepared run (any backend): warm-ups, inner calibration, repeats.
// Fills per_call_s, inner, median/min/max; leaves the rest of Timing to the caller.
void measure(CaseRun& run, const TimerOptions& opt, Timing& t);

// Checks the options shared by every backend; throws std::invalid_argument naming the bad one.
void check_options(int64_t n, const TimerOptions& opt);

// CPU cases: runs the case with `threads` threads (0: leave as is) and ISA level `isa` ("" : leave
// as is); both are restored afterwards, even when the case throws. Throws std::invalid_argument
// for a bad n, threads or isa.
Timing time_case(const CaseSpec& spec, int64_t n, int threads, const std::string& isa,
                 const TimerOptions& opt);

// Median, min and max of a non-empty vector.
void summarize(Timing& t);

}}  // namespace regcore::bench
