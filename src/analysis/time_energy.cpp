#include "attnflow/time_energy.hpp"

#include <cmath>
#include <limits>

#include "attnflow/dispatch.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow {

namespace {

/// U_i = Σ_j w_j e^{⟨x_i, D x_j⟩} x_j (transpose: Ũ_i = Σ_j w_j e^{⟨x_j, D x_i⟩} x_j), N×d, and
/// optionally log Σ_j w_j e^{...}.
Matrix exp_weighted_tokens(const Matrix& D, const Measure& measure, bool transpose,
                           double* log_z = nullptr) {
  const Index d = measure.d();
  const Matrix identity = Matrix::Identity(d, d);
  QueryTable q;
  KeyTable k;
  if (transpose) {  // ⟨x_j, D x_i⟩ = ⟨D x_i, x_j⟩
    fill_queries(D, measure.x, measure.positions, q);
    fill_keys(identity, &identity, measure.x, measure.weights, measure.positions, k);
  } else {
    fill_queries(identity, measure.x, measure.positions, q);
    fill_keys(D, &identity, measure.x, measure.weights, measure.positions, k);
  }
  Matrix u(measure.n(), d);
  attend_unnormalized(false, 1.0, q, k, AttentionOutput{u.data(), log_z});
  return u;
}

double heads_count(const std::vector<Matrix>& D) {
  return static_cast<double>(D.size());
}

}  // namespace

std::vector<Matrix> interaction_matrices(const Model& model) {
  std::vector<Matrix> D;
  D.reserve(model.heads.size());
  for (const Head& h : model.heads) D.push_back(model.beta * h.Q.transpose() * h.K);
  return D;
}

std::vector<Matrix> interaction_matrix_rates(const Model& model, double t, double piece) {
  std::vector<Matrix> rates;
  rates.reserve(model.heads.size());
  for (std::size_t h = 0; h < model.heads.size(); ++h) {
    const Head& head = model.heads[h];
    Matrix r = Matrix::Zero(head.Q.cols(), head.K.cols());
    if (model.schedule) {
      const HeadSchedule& s = model.schedule->heads[h];
      const double beta_rate = model.schedule->beta.derivative(t, piece)(0, 0);
      if (beta_rate != 0.0) r += beta_rate * head.Q.transpose() * head.K;
      if (!s.Q.is_constant()) r += model.beta * s.Q.derivative(t, piece).transpose() * head.K;
      if (!s.K.is_constant()) r += model.beta * head.Q.transpose() * s.K.derivative(t, piece);
    }
    rates.push_back(std::move(r));
  }
  return rates;
}

EnergyValue time_energy(const std::vector<Matrix>& D, const Measure& measure) {
  // log E = log Σ_h Σ_i w_i Z^h_i − log 2H with log Z^h_i = log Σ_j w_j e^{⟨x_i, D_h x_j⟩}, summed
  // as a log-sum-exp (serial, in index order) so that E may overflow while log E stays finite.
  const Index n = measure.n();
  std::vector<double> terms;
  terms.reserve(D.size() * static_cast<std::size_t>(n));
  std::vector<double> log_z(static_cast<std::size_t>(n));
  for (const Matrix& Dh : D) {
    exp_weighted_tokens(Dh, measure, false, log_z.data());
    for (Index i = 0; i < n; ++i) {
      const double w = measure.weights[static_cast<std::size_t>(i)];
      terms.push_back(w > 0.0 ? std::log(w) + log_z[static_cast<std::size_t>(i)]
                              : -std::numeric_limits<double>::infinity());
    }
  }
  double m = -std::numeric_limits<double>::infinity();
  for (double v : terms) m = std::max(m, v);
  double s = 0.0;
  for (double v : terms) s += std::exp(v - m);
  const double log_value = m + std::log(s) - std::log(2.0 * heads_count(D));
  return {std::exp(log_value), log_value};
}

double time_energy_partial_t(const std::vector<Matrix>& D, const std::vector<Matrix>& D_rate,
                             const Measure& measure) {
  double total = 0.0;
  for (std::size_t h = 0; h < D.size(); ++h) {
    if (D_rate[h].isZero(0.0)) continue;
    const Matrix u = exp_weighted_tokens(D[h], measure, false);
    const Matrix du = u * D_rate[h].transpose();  // row i: (Ḋ U_i)ᵀ
    for (Index i = 0; i < measure.n(); ++i)
      total += measure.weights[static_cast<std::size_t>(i)] * measure.x.row(i).dot(du.row(i));
  }
  return total / (2.0 * heads_count(D));
}

Matrix time_energy_gradient(const std::vector<Matrix>& D, const Measure& measure) {
  Matrix grad = Matrix::Zero(measure.n(), measure.d());
  for (const Matrix& Dh : D) {
    const Matrix u = exp_weighted_tokens(Dh, measure, false);
    const bool symmetric = Dh == Dh.transpose();  // then Ũ = U
    const Matrix ut = symmetric ? u : exp_weighted_tokens(Dh, measure, true);
    grad += u * Dh.transpose() + ut * Dh;  // row i: (D U_i + Dᵀ Ũ_i)ᵀ
  }
  for (Index i = 0; i < measure.n(); ++i)
    grad.row(i) *= measure.weights[static_cast<std::size_t>(i)] / (2.0 * heads_count(D));
  return grad;
}

double time_energy_derivative(const std::vector<Matrix>& D, const std::vector<Matrix>& D_rate,
                              const Measure& measure, const Matrix& xdot) {
  // One pass per head gives U (and Ũ = U when D_h is symmetric); ∂_t E and ⟨∇E, ẋ⟩ share it.
  double total = 0.0;
  for (std::size_t h = 0; h < D.size(); ++h) {
    const Matrix& Dh = D[h];
    const Matrix u = exp_weighted_tokens(Dh, measure, false);
    const bool symmetric = Dh == Dh.transpose();
    const Matrix ut = symmetric ? u : exp_weighted_tokens(Dh, measure, true);
    const Matrix grad_rows = u * Dh.transpose() + ut * Dh;  // 2H/w_i · ∇_{x_i} E (this head)
    const Matrix rate_rows = u * D_rate[h].transpose();     // row i: (Ḋ U_i)ᵀ
    for (Index i = 0; i < measure.n(); ++i)
      total += measure.weights[static_cast<std::size_t>(i)] *
               (measure.x.row(i).dot(rate_rows.row(i)) + grad_rows.row(i).dot(xdot.row(i)));
  }
  return total / (2.0 * heads_count(D));
}

}  // namespace attnflow
