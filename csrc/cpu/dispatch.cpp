#include "dispatch.h"

#include <atomic>
#include <stdexcept>

namespace regcore { namespace cpu {

namespace {

bool processor_has(Isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::scalar: return true;
    // libgcc's checks include the OS (XCR0) having enabled the YMM / ZMM register state.
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             processor_has(Isa::avx2);
  }
  return false;
#else
  return isa == Isa::scalar;
#endif
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{int(best_isa())};
  return slot;
}

}  // namespace

bool isa_compiled(Isa isa) {
#if defined(REGCORE_HAVE_X86_ISAS)
  (void)isa;
  return true;
#else
  return isa == Isa::scalar;
#endif
}

bool isa_supported(Isa isa) { return isa_compiled(isa) && processor_has(isa); }

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

bool avx512_bf16_supported() {
#if defined(REGCORE_HAVE_X86_ISAS)
  static const bool has = [] {
    __builtin_cpu_init();
    return isa_supported(Isa::avx512) && __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
#else
  return false;
#endif
}

namespace {
std::atomic<bool>& avx512_bf16_slot() {
  static std::atomic<bool> on{avx512_bf16_supported()};
  return on;
}
}  // namespace

bool avx512_bf16_active() { return avx512_bf16_slot().load(std::memory_order_relaxed); }

void set_avx512_bf16(bool on) {
  if (on && !avx512_bf16_supported())
    throw std::invalid_argument("AVX512_BF16 is not available on this processor or in this build");
  avx512_bf16_slot().store(on, std::memory_order_relaxed);
}

Isa active_isa() { return Isa(active_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (!isa_supported(isa))
    throw std::invalid_argument(std::string("ISA level '") + isa_name(isa) +
                                "' is not available on this processor or in this build; best is '" +
                                isa_name(best_isa()) + "'");
  active_slot().store(int(isa), std::memory_order_relaxed);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

Isa isa_from_name(const std::string& name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("unknown ISA level '" + name + "': expected scalar, avx2 or avx512");
}

#if defined(REGCORE_HAVE_X86_ISAS)
#define REGCORE_ACTIVE_GETTER(Table, getter)                  \
  const Table& active_##getter() {                            \
    switch (active_isa()) {                                   \
      case Isa::avx512: return ::regcore::avx512::isa_kernels::getter(); \
      case Isa::avx2: return ::regcore::avx2::isa_kernels::getter();     \
      default: return ::regcore::scalar::isa_kernels::getter();          \
    }                                                         \
  }
#else
#define REGCORE_ACTIVE_GETTER(Table, getter) \
  const Table& active_##getter() { return ::regcore::scalar::isa_kernels::getter(); }
#endif
REGCORE_FOR_EACH_TABLE(REGCORE_ACTIVE_GETTER)
#undef REGCORE_ACTIVE_GETTER

}}  // namespace regcore::cpu
