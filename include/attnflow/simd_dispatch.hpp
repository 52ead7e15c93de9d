#pragma once
// Which vector width the engine runs at, chosen at run time: the widest the CPU supports, or the
// one named by the environment variable ATTNFLOW_SIMD (or set_simd_width), so that one binary runs
// at full width on AVX-512 and AVX2 machines and the widths can be compared on one machine. Every
// width gives bitwise the same results (simd.hpp).
#include <string>
#include <string_view>

namespace attnflow {

/// The engine's vector widths (simd::Width128 / Width256 / Width512).
enum class SimdWidth { sse2, avx2, avx512 };

/// "sse2", "avx2" or "avx512".
std::string_view simd_width_name(SimdWidth width);

/// Whether this CPU runs the width's instructions (x86-64-v3 for avx2, x86-64-v4 for avx512).
bool simd_width_supported(SimdWidth width);

/// The width the engine uses: the first call reads ATTNFLOW_SIMD ("avx512", "avx2", "sse2";
/// unset or empty: the widest supported) and throws InputError("ATTNFLOW_SIMD", ...) for an
/// unknown or unsupported name.
SimdWidth active_simd_width();

/// Makes the engine use `width` from now on (tests, benchmarks); throws InputError(key, ...) if
/// the CPU does not support it.
void set_simd_width(SimdWidth width, const std::string& key = "simd");

/// Parses "avx512" | "avx2" | "sse2"; throws InputError(key, ...) otherwise or when unsupported.
SimdWidth parse_simd_width(std::string_view name, const std::string& key);

/// The one of three per-width variants (functions compiled for each width) that `width` runs.
template <class Fn>
Fn pick_width(SimdWidth width, Fn wide, Fn middle, Fn narrow) {
  switch (width) {
    case SimdWidth::avx512:
      return wide;
    case SimdWidth::avx2:
      return middle;
    case SimdWidth::sse2:
      break;
  }
  return narrow;
}

}  // namespace attnflow
