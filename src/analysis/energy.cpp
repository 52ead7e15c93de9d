#include "attnflow/energy.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "attnflow/dispatch.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow {

namespace {

/// log Σ_i e^{a_i}, serial and in index order (deterministic).
double log_sum_exp(const std::vector<double>& a) {
  double m = -std::numeric_limits<double>::infinity();
  for (double v : a) m = std::max(m, v);
  if (m == -std::numeric_limits<double>::infinity()) return m;
  double s = 0.0;
  for (double v : a) s += std::exp(v - m);
  return m + std::log(s);
}

/// log Σ_h Σ_i w_i Σ_j w_j e^{β⟨Q_h x_i, K_h x_j⟩}.
double log_double_sum(const Model& model, const Measure& measure) {
  QueryTable q;
  KeyTable k;
  std::vector<double> log_z(static_cast<std::size_t>(measure.n()));
  std::vector<double> terms;
  terms.reserve(model.heads.size() * log_z.size());
  for (const Head& head : model.heads) {
    fill_queries(head.Q, measure.x, measure.positions, q);
    fill_keys(head.K, nullptr, measure.x, measure.weights, measure.positions, k);
    attend_unnormalized(false, model.beta, q, k, AttentionOutput{nullptr, log_z.data()});
    for (std::size_t i = 0; i < log_z.size(); ++i) {
      const double w = measure.weights[i];
      terms.push_back(w > 0.0 ? std::log(w) + log_z[i] : -std::numeric_limits<double>::infinity());
    }
  }
  return log_sum_exp(terms);
}

EnergyValue from_log(double log_value) {
  return {std::exp(log_value), log_value};
}

}  // namespace

EnergyValue interaction_energy(const Model& model, const Measure& measure) {
  return from_log(log_double_sum(model, measure) - std::log(2.0 * model.beta));
}

EnergyValue interaction_energy_b(const Model& model, const Measure& measure) {
  return from_log(log_double_sum(model, measure) - std::log(2.0));
}

Matrix energy_gradient(const Model& model, const Measure& measure) {
  const Index n = measure.n();
  const Index d = measure.d();
  Matrix grad = Matrix::Zero(n, d);
  QueryTable q;
  KeyTable k;
  for (const Head& head : model.heads) {
    const Index kd = head.Q.rows();
    // U_i = Σ_j w_j e^{β⟨Q x_i, K x_j⟩} K x_j  and  R_i = Σ_j w_j e^{β⟨K x_i, Q x_j⟩} Q x_j.
    Matrix u(n, kd), r(n, kd);
    fill_queries(head.Q, measure.x, measure.positions, q);
    fill_keys(head.K, &head.K, measure.x, measure.weights, measure.positions, k);
    attend_unnormalized(false, model.beta, q, k, AttentionOutput{u.data(), nullptr});
    fill_queries(head.K, measure.x, measure.positions, q);
    fill_keys(head.Q, &head.Q, measure.x, measure.weights, measure.positions, k);
    attend_unnormalized(false, model.beta, q, k, AttentionOutput{r.data(), nullptr});
    for (Index i = 0; i < n; ++i) {
      const double half_w = 0.5 * measure.weights[static_cast<std::size_t>(i)];
      grad.row(i) += half_w * (u.row(i) * head.Q + r.row(i) * head.K);
    }
  }
  return grad;
}

double energy_rate(const Model& model, const Measure& measure, const Matrix& xdot) {
  const Matrix grad = energy_gradient(model, measure);
  double rate = 0.0;
  for (Index i = 0; i < grad.size(); ++i) rate += grad.data()[i] * xdot.data()[i];
  return rate;
}

double normalized_energy(double beta, const Measure& measure) {
  const Index d = measure.d();
  const Matrix identity = Matrix::Identity(d, d);
  QueryTable q;
  KeyTable k;
  std::vector<double> log_z(static_cast<std::size_t>(measure.n()));
  fill_queries(identity, measure.x, measure.positions, q);
  fill_keys(identity, nullptr, measure.x, measure.weights, measure.positions, k);
  attend_unnormalized(false, beta, q, k, AttentionOutput{nullptr, log_z.data()});
  double total = 0.0;
  for (std::size_t i = 0; i < log_z.size(); ++i)
    total += measure.weights[i] * std::exp(log_z[i] - beta);
  return total;
}

}  // namespace attnflow
