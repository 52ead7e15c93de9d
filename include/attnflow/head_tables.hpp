#pragma once
// Builds the engine's operands for one head from the tokens: queries q_i = P x_i, keys k_j = R x_j,
// values u_j = U x_j (SoA), log-masses and positions. Deterministic row-parallel loops (no BLAS
// threading, whose reduction order could depend on the thread count).
#include <vector>

#include "attnflow/attention_tables.hpp"

namespace attnflow {

/// q_i = P x_i for every token, with sequence positions.
void fill_queries(const Matrix& P, const Matrix& x, const std::vector<double>& positions,
                  QueryTable& out);

/// k_j = R x_j and (if U is not null) u_j = U x_j in SoA layout, log w_j and positions.
void fill_keys(const Matrix& R, const Matrix* U, const Matrix& x,
               const std::vector<double>& weights, const std::vector<double>& positions,
               KeyTable& out);

}  // namespace attnflow
