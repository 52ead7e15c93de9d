#pragma once
// The engine's exponential (simd::exp) over arrays, at a chosen vector width: how tests and
// benchmarks reach the exact code each width's engine runs (the 64- and 32-byte versions use FMA
// instructions and can only be compiled inside functions built for their instruction set).
#include <span>

#include "attnflow/simd_dispatch.hpp"

namespace attnflow {

/// y[i] = e^{x[i]} by simd::exp at `width` (which the CPU must support); x and y have the same
/// length (any; a last partial vector is padded).
void exp_at_width(SimdWidth width, std::span<const double> x, std::span<double> y);
/// The float exponential of the float32 engine, likewise.
void exp_at_width(SimdWidth width, std::span<const float> x, std::span<float> y);
/// simd::exp_nonpositive (the softmax weights' exponential, for x ≤ 0 or NaN), likewise.
void exp_nonpositive_at_width(SimdWidth width, std::span<const double> x, std::span<double> y);
void exp_nonpositive_at_width(SimdWidth width, std::span<const float> x, std::span<float> y);

}  // namespace attnflow
