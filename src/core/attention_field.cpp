#include "attnflow/attention_field.hpp"

#include <cmath>

#include "attnflow/dispatch.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow {

AttentionField::AttentionField(Model model, std::vector<double> weights,
                               std::vector<double> positions)
    : model_(std::move(model)), weights_(std::move(weights)), positions_(std::move(positions)) {
  // Sigmoid attention's usual bias b = −log N (Ramapuram et al.) keeps σ(s + b) ≈ e^s / N.
  sigmoid_bias_ = std::isnan(model_.sigmoid_bias) ? -std::log(static_cast<double>(weights_.size()))
                                                  : model_.sigmoid_bias;
}

void AttentionField::set_time(double t) {
  if (!model_.schedule) return;
  const ModelSchedule& s = *model_.schedule;
  model_.beta = s.beta.at(t)(0, 0);
  for (std::size_t h = 0; h < model_.heads.size(); ++h) {
    Head& head = model_.heads[h];
    const HeadSchedule& hs = s.heads[h];
    if (!hs.Q.is_constant()) head.Q = hs.Q.at(t);
    if (!hs.K.is_constant()) head.K = hs.K.at(t);
    if (!hs.V.is_constant()) head.V = hs.V.at(t);
    if (!hs.W.is_constant()) head.W = hs.W.at(t);
  }
}

void AttentionField::evaluate_head(const Head& head, const Matrix& x) {
  const Index n = x.rows();
  const KernelSettings kernel{model_.kernel, model_.causal, model_.beta, sigmoid_bias_};
  fill_queries(head.Q, x, positions_, queries_);
  fill_keys(head.K, &head.V, x, weights_, positions_, keys_);
  head_out_.resize(static_cast<std::size_t>(n * head.V.rows()));
  if (model_.kernel != KernelKind::sinkhorn) {
    attend(kernel, queries_, keys_, AttentionOutput{head_out_.data(), nullptr});
    return;
  }
  // Sinkhorn: potentials by streaming passes, then the final row normalisation with g folded into
  // the key log-masses; its log-partition gives f for the reported marginal error.
  fill_queries(head.K, x, positions_, col_queries_);
  fill_keys(head.Q, nullptr, x, weights_, positions_, col_keys_);
  SinkhornReport report =
      sinkhorn_potentials(model_.beta, model_.sinkhorn_iters, model_.sinkhorn_tol, queries_, keys_,
                          col_queries_, col_keys_, g_);
  log_z_.resize(static_cast<std::size_t>(n));
  attend(kernel, queries_, keys_, AttentionOutput{head_out_.data(), log_z_.data()});
  f_.resize(log_z_.size());
  for (std::size_t i = 0; i < f_.size(); ++i) f_[i] = -log_z_[i];
  report.marginal_error =
      sinkhorn_marginal_error(model_.beta, f_, g_, col_queries_, col_keys_, weights_);
  last_sinkhorn_.iterations = std::max(last_sinkhorn_.iterations, report.iterations);
  last_sinkhorn_.marginal_error = std::max(last_sinkhorn_.marginal_error, report.marginal_error);
}

void AttentionField::evaluate(const Matrix& x, Matrix& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  out.setZero(n, d);
  last_sinkhorn_ = SinkhornReport{};
  for (const Head& head : model_.heads) {
    const Index dv = head.V.rows();
    evaluate_head(head, x);
    // out_i += W_h y_i (W_h = I when absent); heads are added in order, so the sum is
    // deterministic.
    const bool identity = head.W.size() == 0;
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
    for (Index i = 0; i < n; ++i) {
      const double* y = head_out_.data() + i * dv;
      double* o = out.data() + i * d;
      if (identity) {
        for (Index c = 0; c < d; ++c) o[c] += y[c];
      } else {
        for (Index r = 0; r < d; ++r) {
          const double* w = head.W.data() + r * dv;
          double s = 0.0;
          for (Index c = 0; c < dv; ++c) s += w[c] * y[c];
          o[r] += s;
        }
      }
    }
  }
}

}  // namespace attnflow
