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

/// Unnormalised rows (USA): out = Σ_j p_ij v_j = e^m a, evaluated as ±e^{m + log|a|} so that a
/// zero component stays zero even when e^m alone would overflow.
struct RowSum {
  static void finalize(const OnlineSoftmax& state, const double* acc, Index dv, double* out) {
    for (Index c = 0; c < dv; ++c) {
      const double a = acc[c];
      out[c] = (a == 0.0 || state.sum == 0.0) ? 0.0 : std::copysign(std::exp(state.max + std::log(std::fabs(a))), a);
    }
  }
};

}  // namespace attnflow
