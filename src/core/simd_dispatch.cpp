#include "attnflow/simd_dispatch.hpp"

#include <atomic>
#include <cstdlib>

#include "attnflow/error.hpp"
#include "attnflow/simd.hpp"

namespace attnflow {

namespace {

constexpr int kUnset = -1;
std::atomic<int> g_width{kUnset};

/// "avx512, avx2, sse2" restricted to the widths this CPU supports.
std::string supported_names() {
  std::string names;
  for (SimdWidth w : {SimdWidth::avx512, SimdWidth::avx2, SimdWidth::sse2}) {
    if (!simd_width_supported(w)) continue;
    if (!names.empty()) names += ", ";
    names += simd_width_name(w);
  }
  return names;
}

void require_supported(SimdWidth width, const std::string& key) {
  if (!simd_width_supported(width))
    throw InputError(key, "this CPU does not support " + std::string(simd_width_name(width)) +
                              "; allowed on this CPU: " + supported_names());
}

SimdWidth widest_supported() {
  if (simd_width_supported(SimdWidth::avx512)) return SimdWidth::avx512;
  if (simd_width_supported(SimdWidth::avx2)) return SimdWidth::avx2;
  return SimdWidth::sse2;
}

}  // namespace

std::string_view simd_width_name(SimdWidth width) {
  switch (width) {
    case SimdWidth::avx512:
      return "avx512";
    case SimdWidth::avx2:
      return "avx2";
    case SimdWidth::sse2:
      break;
  }
  return "sse2";
}

bool simd_width_supported(SimdWidth width) {
#if ATTNFLOW_X86_WIDTHS
  switch (width) {
    case SimdWidth::avx512:
      return __builtin_cpu_supports("x86-64-v4") != 0;
    case SimdWidth::avx2:
      return __builtin_cpu_supports("x86-64-v3") != 0;
    case SimdWidth::sse2:
      return true;
  }
  return false;
#else
  return width == SimdWidth::sse2;
#endif
}

SimdWidth parse_simd_width(std::string_view name, const std::string& key) {
  for (SimdWidth width : {SimdWidth::avx512, SimdWidth::avx2, SimdWidth::sse2}) {
    if (name != simd_width_name(width)) continue;
    require_supported(width, key);
    return width;
  }
  throw InputError(key,
                   "unknown vector width '" + std::string(name) + "'; allowed: avx512, avx2, sse2");
}

SimdWidth active_simd_width() {
  int width = g_width.load(std::memory_order_relaxed);
  if (width == kUnset) {
    const char* env = std::getenv("ATTNFLOW_SIMD");
    const SimdWidth chosen = env != nullptr && *env != '\0' ? parse_simd_width(env, "ATTNFLOW_SIMD")
                                                            : widest_supported();
    width = static_cast<int>(chosen);
    g_width.store(width, std::memory_order_relaxed);
  }
  return static_cast<SimdWidth>(width);
}

void set_simd_width(SimdWidth width, const std::string& key) {
  require_supported(width, key);
  g_width.store(static_cast<int>(width), std::memory_order_relaxed);
}

}  // namespace attnflow
