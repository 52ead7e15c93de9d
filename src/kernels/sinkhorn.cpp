#include "attnflow/sinkhorn.hpp"

#include <cmath>
#include <limits>

#include "attnflow/dispatch.hpp"

namespace attnflow {

namespace {

/// col_keys.log_weight_i ← log w_i + f_i, then log Σ_i w_i e^{f_i + s_ij} for every column j.
void column_pass(double beta, const std::vector<double>& f, const std::vector<double>& log_w,
                 const QueryTable& col_queries, KeyTable& col_keys, std::vector<double>& log_col) {
  for (std::size_t i = 0; i < f.size(); ++i) col_keys.log_weight[i] = log_w[i] + f[i];
  attend_unnormalized(false, beta, col_queries, col_keys, AttentionOutput{nullptr, log_col.data()});
}

}  // namespace

SinkhornReport sinkhorn_potentials(double beta, int max_iters, double tol,
                                   const QueryTable& row_queries, KeyTable& row_keys,
                                   const QueryTable& col_queries, KeyTable& col_keys,
                                   std::vector<double>& g) {
  const auto n = static_cast<std::size_t>(row_keys.n);
  const std::vector<double> log_w(row_keys.log_weight.begin(),
                                  row_keys.log_weight.begin() + static_cast<std::ptrdiff_t>(n));
  g.assign(n, 0.0);
  std::vector<double> log_z(static_cast<std::size_t>(row_queries.n)), f(log_z.size()), log_col(n);
  SinkhornReport report;
  report.iterations = 1;
  for (int it = 1; it < max_iters; ++it) {
    for (std::size_t j = 0; j < n; ++j) row_keys.log_weight[j] = log_w[j] + g[j];
    attend_unnormalized(false, beta, row_queries, row_keys, AttentionOutput{nullptr, log_z.data()});
    for (std::size_t i = 0; i < f.size(); ++i) f[i] = -log_z[i];
    column_pass(beta, f, log_w, col_queries, col_keys, log_col);
    // Column sums of the current row-normalised plan are e^{g_j + log_col_j}: their distance to
    // one is the marginal error before this update.
    double error = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      if (log_w[j] == -std::numeric_limits<double>::infinity()) continue;
      error = std::max(error, std::fabs(std::expm1(g[j] + log_col[j])));
      g[j] = -log_col[j];
    }
    ++report.iterations;
    if (error <= tol) break;
  }
  for (std::size_t j = 0; j < n; ++j)
    if (log_w[j] == -std::numeric_limits<double>::infinity()) g[j] = 0.0;  // massless: any g works
  for (std::size_t j = 0; j < n; ++j) row_keys.log_weight[j] = log_w[j] + g[j];
  return report;
}

double sinkhorn_marginal_error(double beta, const std::vector<double>& f,
                               const std::vector<double>& g, const QueryTable& col_queries,
                               KeyTable& col_keys, const std::vector<double>& weights) {
  std::vector<double> log_w(weights.size()), log_col(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i)
    log_w[i] = weights[i] > 0.0 ? std::log(weights[i]) : -std::numeric_limits<double>::infinity();
  column_pass(beta, f, log_w, col_queries, col_keys, log_col);
  double error = 0.0;
  for (std::size_t j = 0; j < weights.size(); ++j)
    if (weights[j] > 0.0) error = std::max(error, std::fabs(std::expm1(g[j] + log_col[j])));
  return error;
}

}  // namespace attnflow
