#pragma once
// A branch-free double-precision exponential that compilers vectorise inside the engine's loops
// (std::exp is a libm call and stops vectorisation). Hand-written because Debian's SLEEF offers
// only per-ISA entry points, which would have to be dispatched per call; this one is inlined into
// each SIMD clone of the engine (dispatch.cpp).
//
// Method: x = k·ln2 + r with k = round(x/ln2) (Cody–Waite two-part ln2, |r| ≤ ln2/2), e^r by its
// degree-13 Taylor polynomial (truncation ≤ (ln2/2)^14/14! < 4·10⁻¹⁸, below half an ulp), and
// 2^k built in the exponent bits. Arguments below −708 return 0 (e^−708 ≈ 3·10⁻³⁰⁸: in the engine the
// argument is a score minus the running maximum, so such terms are below round-off of a sum ≥ 1);
// NaN propagates. Measured error: worst 1.13 ulp against expl over 4·10⁶ points of [−708, 709]
// (tests/unit/test_fast_exp.cpp asserts ≤ 2 ulp).
#include <bit>
#include <cstdint>

namespace attnflow {

/// e^x for x ≤ 709; 0 below −708; NaN for NaN (scalar twin of simd::exp).
[[gnu::always_inline]] inline double fast_exp(double x) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // ln 2 with the low 32 bits zero
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShifter = 0x1.8p52;  // adding it rounds to an integer kept in the low bits
  constexpr double kMin = -708.0;
  const double xc = x < kMin ? kMin : x;  // (NaN < kMin) is false: NaN stays NaN
  const double shifted = xc * kLog2e + kShifter;
  const double k = shifted - kShifter;
  const double r = (xc - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 6227020800.0;  // 1/13!
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
  const std::int64_t ki = std::bit_cast<std::int64_t>(shifted) - std::bit_cast<std::int64_t>(kShifter);
  const double scale = std::bit_cast<double>(static_cast<std::uint64_t>(ki + 1023) << 52);
  const double result = p * scale;
  return x < kMin ? 0.0 : result;
}

}  // namespace attnflow
