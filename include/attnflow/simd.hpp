#pragma once
// Eight-lane double vectors (GCC/Clang vector extensions). The engine's partial sums are exactly
// these eight lanes (kLanes), so vector code and reduction order coincide by construction. GCC
// lowers the type to one AVX-512 register, two AVX2 registers or four SSE2 registers, whichever
// the SIMD clone being compiled has (dispatch.cpp): one source, every instruction set.
#include <bit>
#include <cstdint>

#include "attnflow/attention_tables.hpp"

namespace attnflow::simd {

/// Eight doubles.
using v8d = double __attribute__((vector_size(64)));
/// Eight 64-bit integers (comparison masks, exponent bits).
using v8l = std::int64_t __attribute__((vector_size(64)));
/// Unaligned, aliasing view for loads and stores.
using v8d_unaligned = double __attribute__((vector_size(64), aligned(8), may_alias));

static_assert(kLanes == 8, "the engine's lanes are one v8d");

/// Loads p[0..8).
[[gnu::always_inline]] inline v8d load(const double* p) {
  return *reinterpret_cast<const v8d_unaligned*>(p);
}
/// Stores v to p[0..8).
[[gnu::always_inline]] inline void store(double* p, v8d v) {
  *reinterpret_cast<v8d_unaligned*>(p) = v;
}
/// All lanes equal to x.
[[gnu::always_inline]] inline v8d broadcast(double x) {
  return v8d{} + x;
}

/// Lane-wise maximum that keeps a NaN of b out (used only where b is never NaN-significant).
[[gnu::always_inline]] inline v8d max(v8d a, v8d b) {
  return a < b ? b : a;
}

/// Largest lane.
[[gnu::always_inline]] inline double horizontal_max(v8d a) {
  double m = a[0];
  for (int l = 1; l < 8; ++l) m = m < a[l] ? a[l] : m;
  return m;
}

/// Σ of the lanes in index order (the engine's fixed reduction order).
[[gnu::always_inline]] inline double horizontal_sum(v8d a) {
  double s = a[0];
  for (int l = 1; l < 8; ++l) s += a[l];
  return s;
}

/// e^x lane-wise, branch-free so it vectorises (std::exp is a libm call and stops vectorisation;
/// Debian's SLEEF has only per-ISA entry points, which would need dispatching per call, while this
/// is inlined into each SIMD clone of the engine). Method: x = k·ln2 + r, k = round(x/ln2)
/// (Cody–Waite two-part ln2, |r| ≤ ln2/2); e^r by its degree-13 Taylor polynomial (truncation
/// ≤ (ln2/2)^14/14! < 4·10⁻¹⁸, below half an ulp); 2^k built in the exponent bits. Below −708 the
/// result is 0 (in the engine the argument is a score minus the running maximum, so such terms are
/// below the round-off of a sum ≥ 1); above 709, +∞; NaN propagates. Measured: worst 1.13 ulp
/// against expl over 4·10⁶ points of [−708, 709] (tests/unit/test_fast_exp.cpp asserts ≤ 2 ulp).
[[gnu::always_inline]] inline v8d exp(v8d x) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShifter = 0x1.8p52;
  constexpr double kMin = -708.0;
  constexpr double kMax = 709.0;
  const v8l too_small = x < kMin;
  const v8l too_large = x > kMax;
  v8d xc = too_small ? broadcast(kMin) : x;
  xc = too_large ? broadcast(kMax) : xc;
  const v8d shifted = xc * kLog2e + kShifter;
  const v8d k = shifted - kShifter;
  const v8d r = (xc - k * kLn2Hi) - k * kLn2Lo;
  v8d p = broadcast(1.0 / 6227020800.0);
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const v8l shifter_bits = v8l{} + 0x4338000000000000LL;  // bits of kShifter
  const v8l ki = std::bit_cast<v8l>(shifted) - shifter_bits;
  const v8l scale_bits = (ki + 1023) << 52;
  const v8d result = p * std::bit_cast<v8d>(scale_bits);
  const v8d with_low = too_small ? broadcast(0.0) : result;
  return too_large ? broadcast(__builtin_inf()) : with_low;
}

}  // namespace attnflow::simd
