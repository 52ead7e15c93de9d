#pragma once
// Normalisation policies: how a query's streamed state (m, l, a) becomes its output
// (DESIGN principle 2: the row normalisation of the kernel table in SPEC §1).
#include <cmath>

#include "attnflow/online_softmax.hpp"
#include "attnflow/types.hpp"

namespace attnflow {

/// Softmax rows: out = Σ_j a_ij v_j with a_ij = p_ij / Σ_k p_ik, i.e. a / l. A query that sees no
/// key (all masked or massless) gets 0.
struct RowSoftmax {
  static void finalize(const OnlineSoftmax& state, const double* acc, Index dv, double* out) {
    if (state.sum > 0.0) {
      const double inv = 1.0 / state.sum;
      for (Index c = 0; c < dv; ++c) out[c] = acc[c] * inv;
    } else {
      for (Index c = 0; c < dv; ++c) out[c] = 0.0;
    }
  }
};

/// Unnormalised rows (USA, sigmoid): out = Σ_j p_ij v_j = e^m a. When e^m overflows on its own
/// the product is formed as ±e^{m + log|a|}, which stays finite whenever the result does.
struct RowSum {
  static void finalize(const OnlineSoftmax& state, const double* acc, Index dv, double* out) {
    const double scale = state.sum > 0.0 ? std::exp(state.max) : 0.0;
    for (Index c = 0; c < dv; ++c) {
      const double a = acc[c];
      if (std::isfinite(scale) || a == 0.0)
        out[c] = a * scale;
      else
        out[c] = std::copysign(std::exp(state.max + std::log(std::fabs(a))), a);
    }
  }
};

}  // namespace attnflow
