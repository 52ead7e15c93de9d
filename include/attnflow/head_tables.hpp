#pragma once
// Builds the engine's operands for one head from the tokens: queries q_i = P x_i, keys k_j = R x_j,
// values u_j = U x_j (SoA), log-masses and positions. Deterministic row-parallel loops (no BLAS
// threading, whose reduction order could depend on the thread count).
#include <vector>

#include "attnflow/attention_tables.hpp"

namespace attnflow {

/// What a caller knows about a projection matrix. With `unknown` the fill functions test for the
/// identity themselves (d² comparisons per call); a caller that evaluates the same matrices many
/// times (AttentionField) tests once and passes the answer. The identity is applied as a copy.
enum class Projection { unknown, identity, general };

/// Whether m is exactly the identity (a −0.0 entry counts as not).
bool is_identity(const Matrix& m);

/// q_i = P x_i for every token, with sequence positions. The product is formed in double and
/// rounded once to T (float tables: model.precision = "float32"). Instantiated for double, float.
template <class T>
void fill_queries(const Matrix& P, const Matrix& x, const std::vector<double>& positions,
                  BasicQueryTable<T>& out, Projection p_kind = Projection::unknown);

/// k_j = R x_j and (if U is not null) u_j = U x_j in SoA layout, log w_j and positions (formed in
/// double, rounded once to T).
template <class T>
void fill_keys(const Matrix& R, const Matrix* U, const Matrix& x,
               const std::vector<double>& weights, const std::vector<double>& positions,
               BasicKeyTable<T>& out, Projection r_kind = Projection::unknown,
               Projection u_kind = Projection::unknown);

extern template void fill_queries(const Matrix&, const Matrix&, const std::vector<double>&,
                                  QueryTable&, Projection);
extern template void fill_queries(const Matrix&, const Matrix&, const std::vector<double>&,
                                  QueryTable32&, Projection);
extern template void fill_keys(const Matrix&, const Matrix*, const Matrix&,
                               const std::vector<double>&, const std::vector<double>&, KeyTable&,
                               Projection, Projection);
extern template void fill_keys(const Matrix&, const Matrix*, const Matrix&,
                               const std::vector<double>&, const std::vector<double>&, KeyTable32&,
                               Projection, Projection);

}  // namespace attnflow
