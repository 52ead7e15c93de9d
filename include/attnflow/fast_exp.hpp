#pragma once
// The engine's exponential for one number: the same algorithm as simd::exp (simd.hpp, where the
// method and its measured error are documented), evaluated on one lane (every lane and width
// computes the same bits).
#include "attnflow/simd.hpp"

namespace attnflow {

/// e^x for x ≤ 709; 0 below −708, +∞ above 709; NaN for NaN (simd::exp on one lane).
[[gnu::always_inline]] inline double fast_exp(double x) {
  return simd::exp(simd::fill<simd::Pack<simd::v2d, 1>>(x))[0];
}

}  // namespace attnflow
