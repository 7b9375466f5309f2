// regcore_bench: runs the native benchmark registry without Python and prints the same kernel
// timings as `python -m regcore.bench` (which adds the NumPy/PyTorch peers and the plots).
//
//   regcore_bench [--quick] [--filter SUBSTR] [--threads 1,2] [--sizes 65536,1048576]
//                 [--isa scalar,avx2] [--repeats N] [--warmup N] [--list]
//
// For every case whose id ("family.kernel:dtype") contains the filter: every size, every ISA
// level the processor has (once for cases the ISA does not change), every thread count. The copy
// baseline runs before and after at each size and thread count; "%copy" divides a kernel's GB/s
// by the mean of the two copy figures at the same element count, element size and threads.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_case.h"
#include "bench/timer.h"
#include "cpu/dispatch.h"
#include "cpu/parallel.h"

using regcore::bench::CaseSpec;
using regcore::bench::Timing;
using regcore::bench::TimerOptions;
namespace cpu = regcore::cpu;

namespace {

struct Options {
  bool quick = false, list = false;
  std::string filter;
  std::vector<int> threads;
  std::vector<int64_t> sizes;
  std::vector<std::string> isas;
  TimerOptions timer;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int64_t parse_size(const std::string& s) {
  // 65536, 64K, 1M, 16M (binary multiples, as in the report).
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  int64_t mult = 1;
  if (*end == 'K' || *end == 'k') mult = int64_t(1) << 10, ++end;
  else if (*end == 'M' || *end == 'm') mult = int64_t(1) << 20, ++end;
  else if (*end == 'G' || *end == 'g') mult = int64_t(1) << 30, ++end;
  if (*end != '\0' || v <= 0) throw std::invalid_argument("bad size '" + s + "'");
  return int64_t(v) * mult;
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "%s\nusage: regcore_bench [--quick] [--filter SUBSTR] [--threads 1,2] "
               "[--sizes 64K,1M,16M] [--isa scalar,avx2,avx512] [--repeats N] [--warmup N] [--list]\n",
               msg);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  std::string threads, sizes, isas;
  int repeats = -1, warmup = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--quick") o.quick = true;
    else if (a == "--list") o.list = true;
    else if (a == "--filter") o.filter = value();
    else if (a == "--threads") threads = value();
    else if (a == "--sizes") sizes = value();
    else if (a == "--isa") isas = value();
    else if (a == "--repeats") repeats = std::atoi(value().c_str());
    else if (a == "--warmup") warmup = std::atoi(value().c_str());
    else if (a == "-h" || a == "--help") usage("regcore native benchmark");
    else usage(("unknown argument " + a).c_str());
  }
  // Same defaults as python -m regcore.bench.
  o.timer.repeats = repeats > 0 ? repeats : (o.quick ? 3 : 7);
  o.timer.warmup = warmup >= 0 ? warmup : (o.quick ? 1 : 2);
  o.timer.min_sample_s = o.quick ? 1e-3 : 2e-3;
  for (const std::string& s : split(sizes)) o.sizes.push_back(parse_size(s));
  if (o.sizes.empty())
    o.sizes = o.quick ? std::vector<int64_t>{int64_t(1) << 16, int64_t(1) << 20}
                      : std::vector<int64_t>{int64_t(1) << 16, int64_t(1) << 20, int64_t(1) << 24};
  for (const std::string& t : split(threads)) {
    int v = std::atoi(t.c_str());
    if (v < 1) usage(("bad thread count '" + t + "'").c_str());
    o.threads.push_back(v);
  }
  if (o.threads.empty()) {
    o.threads.push_back(1);
    if (cpu::max_threads() > 1) o.threads.push_back(cpu::max_threads());
  }
  o.isas = split(isas);
  if (o.isas.empty())
    for (cpu::Isa i : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512})
      if (cpu::isa_supported(i)) o.isas.push_back(cpu::isa_name(i));
  for (const std::string& s : o.isas) {
    try {
      if (!cpu::isa_supported(cpu::isa_from_name(s))) usage(("ISA level not available here: " + s).c_str());
    } catch (const std::invalid_argument& e) {
      usage(e.what());
    }
  }
  return o;
}

std::string human(int64_t n) {
  char buf[32];
  if (n % (int64_t(1) << 20) == 0) std::snprintf(buf, sizeof buf, "%lldM", (long long)(n >> 20));
  else if (n % 1024 == 0) std::snprintf(buf, sizeof buf, "%lldK", (long long)(n >> 10));
  else std::snprintf(buf, sizeof buf, "%lld", (long long)n);
  return buf;
}

int itemsize(const std::string& dtype) {
  if (dtype == "float64" || dtype == "int64" || dtype == "uint64") return 8;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16") return 2;
  if (dtype == "uint8" || dtype == "int8" || dtype == "bool") return 1;
  return 4;
}

// A case with a fixed geometry (a layer shape, 50k-element tensors) runs at the sizes it states;
// every other case at --sizes or the defaults.
const std::vector<int64_t>& sizes_for(const CaseSpec& c, const Options& o) {
  const std::vector<int64_t>& own = o.quick ? c.quick_sizes : c.sizes;
  return own.empty() ? o.sizes : own;
}

const char* copy_dtype_for(int size) { return size == 8 ? "float64" : "float32"; }

void print_header() {
  std::printf("%-28s %6s %-7s %3s %11s %11s %11s %8s %7s %11s\n", "case", "n", "isa", "thr",
              "median", "min", "max", "GB/s", "%copy", "Mitems/s");
}

void print_row(const CaseSpec& c, int64_t n, const Timing& t, double copy_gbps) {
  const double gbps = double(t.min_bytes) / t.median_s / 1e9;
  char pct[16] = "-";
  if (copy_gbps > 0) std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * gbps / copy_gbps);
  std::printf("%-28s %6s %-7s %3d %9.1fus %9.1fus %9.1fus %8.2f %7s %11.1f\n", c.id().c_str(),
              human(n).c_str(), c.uses_isa ? t.isa.c_str() : "-", t.threads, t.median_s * 1e6,
              t.min_s * 1e6, t.max_s * 1e6, gbps, pct, double(n) / t.median_s / 1e6);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  auto& cases = regcore::bench::registry();
  if (o.list) {
    for (const CaseSpec& c : cases)
      std::printf("%-28s %-5s min bytes: %-32s state: %s\n", c.id().c_str(), c.backend.c_str(),
                  c.bytes_formula.c_str(), c.state_formula.c_str());
    return 0;
  }
  std::vector<const CaseSpec*> selected;
  for (const CaseSpec& c : cases)
    if (c.family != "baseline" && c.id().find(o.filter) != std::string::npos) selected.push_back(&c);
  if (selected.empty()) {
    std::fprintf(stderr, "no case matches '%s' (see --list)\n", o.filter.c_str());
    return 1;
  }
  // (element size, n) pairs the selected cases run at: the copy baseline measures each.
  std::vector<std::pair<int, int64_t>> copies;
  for (const CaseSpec* c : selected)
    for (int64_t n : sizes_for(*c, o)) copies.push_back({itemsize(c->dtype), n});
  std::sort(copies.begin(), copies.end());
  copies.erase(std::unique(copies.begin(), copies.end()), copies.end());

  // (n, element size, threads) -> copy GB/s of each baseline pass.
  std::map<std::tuple<int64_t, int, int>, std::vector<double>> copy;
  auto run_baseline = [&](const char* when) {
    std::printf("\n# copy baseline (%s)\n", when);
    print_header();
    for (const auto& sn : copies) {
      const int size = sn.first;
      const int64_t n = sn.second;
      const CaseSpec* c = regcore::bench::find_case("baseline.copy", copy_dtype_for(size));
      if (!c) continue;
      for (int th : o.threads) {
        Timing t = regcore::bench::time_case(*c, n, th, "", o.timer);
        copy[{n, size, th}].push_back(double(t.min_bytes) / t.median_s / 1e9);
        print_row(*c, n, t, 0);
      }
    }
  };

  run_baseline("before");
  // Kernels are timed after the whole "before" pass, so %copy uses the mean of before and after.
  struct Pending { const CaseSpec* c; int64_t n; Timing t; };
  std::vector<Pending> rows;
  std::printf("\n# kernels\n");
  print_header();
  for (const CaseSpec* c : selected)
    for (int64_t n : sizes_for(*c, o))
      for (const std::string& isa : (c->uses_isa ? o.isas : std::vector<std::string>{""}))
        for (int th : o.threads) {
          Timing t = regcore::bench::time_case(*c, n, th, isa, o.timer);
          const auto& before = copy[{n, itemsize(c->dtype), th}];
          print_row(*c, n, t, before.empty() ? 0 : before.front());
          rows.push_back({c, n, t});
        }
  run_baseline("after");

  std::printf("\n# kernels, %%copy against the mean of the copy baseline before and after\n");
  print_header();
  for (const Pending& r : rows) {
    const auto& v = copy[{r.n, itemsize(r.c->dtype), r.t.threads}];
    double mean = 0;
    for (double x : v) mean += x;
    print_row(*r.c, r.n, r.t, v.empty() ? 0 : mean / double(v.size()));
  }
  return 0;
}
