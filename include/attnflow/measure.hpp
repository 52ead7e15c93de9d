#pragma once
// The empirical measure μ = Σ_i w_i δ_{x_i} (SPEC notation): token positions, masses and the
// sequence positions used by causal masks. Weights and sequence positions never change in time.
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow {

/// Tokens x_i (N×d), masses w_i ≥ 0 with Σ w_i = 1, and sequence positions (for causal masks).
struct Measure {
  Matrix x;                       ///< N×d token positions, row-major
  std::vector<double> weights;    ///< N masses, default 1/N
  std::vector<double> positions;  ///< N sequence positions, default 0, 1, ..., N−1

  Index n() const { return x.rows(); }
  Index d() const { return x.cols(); }
};

/// A measure with uniform weights 1/N and positions 0..N−1.
Measure uniform_measure(Matrix x);

/// Checks sizes, finiteness, weights (≥ 0, sum 1 within 1e-9) and, if on_sphere, unit norms
/// (within 1e-9); throws InputError with the given key prefix (e.g. "init").
void validate_measure(const Measure& measure, bool on_sphere, const std::string& key);

}  // namespace attnflow
