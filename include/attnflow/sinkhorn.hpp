#pragma once
// Sinkhorn attention ([C] §Sinkhorn, Sander et al. 2022 "Sinkformers"): the plan
//     a_ij = w_j e^{f_i + g_j + s_ij},   Σ_j a_ij = 1,   Σ_i w_i a_ij = w_j,
// i.e. the entropic coupling of μ with itself for the cost −⟨Qx, Ky⟩ at ε = 1/β. The potentials
// come from log-domain Sinkhorn iterations, each a streaming pass of the engine (no N×N matrix):
//     f_i = −log Σ_j w_j e^{g_j + s_ij}     (row pass: queries Q x_i, keys K x_j)
//     g_j = −log Σ_i w_i e^{f_i + s_ij}     (column pass: queries K x_j, keys Q x_i)
// Iteration 1 is the row normalisation alone, i.e. softmax attention.
#include <vector>

#include "attnflow/attention_tables.hpp"

namespace attnflow {

/// How a Sinkhorn solve ended.
struct SinkhornReport {
  int iterations = 0;           ///< row normalisations performed, the final one included
  double marginal_error = 0.0;  ///< max_j |Σ_i w_i a_ij / w_j − 1| of the returned plan
};

/// Column potentials g (size keys.n) after at most max_iters − 1 column updates, stopping once the
/// column marginals of the row-normalised plan are met to `tol`. row_keys.log_weight must hold
/// log w_j; col_keys.log_weight is overwritten. Returns the iteration count (error filled later).
SinkhornReport sinkhorn_potentials(double beta, int max_iters, double tol,
                                   const QueryTable& row_queries, KeyTable& row_keys,
                                   const QueryTable& col_queries, KeyTable& col_keys,
                                   std::vector<double>& g);

/// max_j |Σ_i w_i a_ij / w_j − 1| for a_ij = w_j e^{f_i + g_j + s_ij}, given f_i = −log Z_i of the
/// final row pass: one column pass.
double sinkhorn_marginal_error(double beta, const std::vector<double>& f,
                               const std::vector<double>& g, const QueryTable& col_queries,
                               KeyTable& col_keys, const std::vector<double>& weights);

}  // namespace attnflow
