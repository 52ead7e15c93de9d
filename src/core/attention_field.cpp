#include "attnflow/attention_field.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnflow/dispatch.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow {

AttentionField::AttentionField(Model model, std::vector<double> weights,
                               std::vector<double> positions)
    : model_(std::move(model)), weights_(std::move(weights)), positions_(std::move(positions)) {
  // Sigmoid attention's usual bias b = −log N (Ramapuram et al.) keeps σ(s + b) ≈ e^s / N.
  sigmoid_bias_ = std::isnan(model_.sigmoid_bias) ? -std::log(static_cast<double>(weights_.size()))
                                                  : model_.sigmoid_bias;
  classify_projections();
}

void AttentionField::set_time(double t) {
  apply_schedule(model_, t);
  if (model_.schedule) classify_projections();
}

void AttentionField::classify_projections() {
  auto kind = [](const Matrix& m) {
    return is_identity(m) ? Projection::identity : Projection::general;
  };
  kinds_.clear();
  for (const Head& head : model_.heads)
    kinds_.push_back({kind(head.Q), kind(head.K), kind(head.V)});
}

void AttentionField::evaluate_head(const Head& head, const Matrix& x, double* log_z) {
  const Index n = x.rows();
  const KernelSettings kernel{model_.kernel, model_.causal, model_.beta, sigmoid_bias_};
  const ProjectionKinds& kinds = kinds_[static_cast<std::size_t>(&head - model_.heads.data())];
  head_out_.resize(static_cast<std::size_t>(n * head.V.rows()));
  if (model_.precision == Precision::float32) {
    // validate_model() rules out sinkhorn here: every other kernel is one streaming pass.
    fill_queries(head.Q, x, positions_, queries32_, kinds.q);
    fill_keys(head.K, &head.V, x, weights_, positions_, keys32_, kinds.k, kinds.v);
    attend(kernel, queries32_, keys32_, AttentionOutput{head_out_.data(), log_z});
    return;
  }
  fill_queries(head.Q, x, positions_, queries_, kinds.q);
  fill_keys(head.K, &head.V, x, weights_, positions_, keys_, kinds.k, kinds.v);
  if (model_.kernel != KernelKind::sinkhorn) {
    attend(kernel, queries_, keys_, AttentionOutput{head_out_.data(), log_z});
    return;
  }
  // Sinkhorn: potentials by streaming passes, then the final row normalisation with g folded into
  // the key log-masses; its log-partition gives f for the reported marginal error.
  fill_queries(head.K, x, positions_, col_queries_, kinds.k);
  fill_keys(head.Q, nullptr, x, weights_, positions_, col_keys_, kinds.q);
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

void AttentionField::add_head_output(const Head& head, const double* y_all, const double* scale,
                                     Matrix& out) const {
  const Index n = out.rows();
  const Index d = out.cols();
  const Index dv = head.V.rows();
  // out_i += s_i W_h y_i (W_h = I when absent, s_i = 1 when scale is null); heads are added in
  // order, so the sum is deterministic.
  const bool identity = head.W.size() == 0;
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index i = 0; i < n; ++i) {
    const double* y = y_all + i * dv;
    const double f = scale == nullptr ? 1.0 : scale[i];
    double* o = out.data() + i * d;
    if (identity) {
      for (Index c = 0; c < d; ++c) o[c] += f * y[c];
    } else {
      for (Index r = 0; r < d; ++r) {
        const double* w = head.W.data() + r * dv;
        double s = 0.0;
        for (Index c = 0; c < dv; ++c) s += w[c] * y[c];
        o[r] += f * s;
      }
    }
  }
}

void AttentionField::evaluate(const Matrix& x, Matrix& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  out.setZero(n, d);
  last_sinkhorn_ = SinkhornReport{};
  if (model_.head_normalization == HeadNormalization::per_head || model_.heads.size() == 1) {
    for (const Head& head : model_.heads) {
      evaluate_head(head, x);
      add_head_output(head, head_out_.data(), nullptr, out);
    }
    return;
  }
  // Shared softmax: a^h_ij = w_j e^{s^h_ij} / Z_i with Z_i = Σ_h Z^h_i, i.e. each head's row
  // softmax y^h_i rescaled by Z^h_i / Z_i = e^{log Z^h_i − log Z_i} (log-sum-exp over heads, in
  // head order). A query with no visible mass in any head gets 0, as in the per-head contract.
  const std::size_t heads = model_.heads.size();
  shared_out_.resize(heads);
  shared_log_z_.resize(heads);
  for (std::size_t h = 0; h < heads; ++h) {
    shared_log_z_[h].resize(static_cast<std::size_t>(n));
    evaluate_head(model_.heads[h], x, shared_log_z_[h].data());
    shared_out_[h] = head_out_;
  }
  scale_.resize(static_cast<std::size_t>(n));
  std::vector<double> log_z(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < log_z.size(); ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (std::size_t h = 0; h < heads; ++h) m = std::max(m, shared_log_z_[h][i]);
    double sum = 0.0;
    if (m > -std::numeric_limits<double>::infinity())
      for (std::size_t h = 0; h < heads; ++h) sum += std::exp(shared_log_z_[h][i] - m);
    log_z[i] = m + std::log(sum);
  }
  for (std::size_t h = 0; h < heads; ++h) {
    for (std::size_t i = 0; i < scale_.size(); ++i)
      scale_[i] =
          std::isfinite(shared_log_z_[h][i]) ? std::exp(shared_log_z_[h][i] - log_z[i]) : 0.0;
    add_head_output(model_.heads[h], shared_out_[h].data(), scale_.data(), out);
  }
}

}  // namespace attnflow
