// Interaction energies ([R] E_β, [B]'s normalisation), their gradients and rates.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/kernel_registry.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

/// Relative error bound of the energy: each log Z_i within the engine bound (absolute in log),
/// then log-sum-exp over H·N terms (γ_{HN} on the sum, one log, one exp: (HN + 4) u) and the final
/// e^{log E} (u |log E|).
double energy_bound(const Model& model, const Measure& m, double log_e) {
  const dense::FieldResult ref = dense::field(model, m.x, m.weights, m.positions);
  const double heads = static_cast<double>(model.heads.size());
  return engine_bound(model, ref, m.weights, m.n(), m.d()) +
         2.0 * kU * (heads * static_cast<double>(m.n()) + 4.0 + std::fabs(log_e));
}

// E = 1/(2β) Σ_h Σ_{i,j} w_i w_j e^{β⟨Q_h x_i, K_h x_j⟩} against the explicit double sum; [B]'s
// normalisation is β·E; the causal flag is ignored by definition.
TEST(Energy, InteractionEnergyEqualsDenseDoubleSum) {
  const Index n = 70, d = 4;
  for (double beta : {0.5, 2.0}) {
    SCOPED_TRACE(beta);
    Rng rng(8);
    Model model = multi_head(d, beta, KernelKind::softmax, rng);
    model.causal = true;
    const Measure m{radial_points(n, d, rng), random_weights(n, rng), index_positions(n)};
    const long double sum = dense::energy_double_sum(model, m.x, m.weights);
    const double expected = static_cast<double>(sum / (2.0L * beta));
    const EnergyValue e = interaction_energy(model, m);
    const double rel = energy_bound(model, m, std::log(expected));
    EXPECT_NEAR(e.value, expected, rel * expected);
    EXPECT_NEAR(e.log_value, static_cast<double>(logl(sum / (2.0L * beta))), rel);
    const EnergyValue eb = interaction_energy_b(model, m);
    EXPECT_NEAR(eb.value, static_cast<double>(sum / 2.0L), rel * static_cast<double>(sum / 2.0L));
  }
}

// β = 2000 on the sphere: e^{2000} overflows float64, E is reported as +∞ but log E stays finite
// and exact (the long double reference reaches e^{11356}).
TEST(Energy, LogEnergyStaysFiniteWhenTheValueOverflows) {
  const Index n = 30, d = 3;
  Rng rng(4);
  const double beta = 2000.0;
  const Model model = identity_heads(d, beta, KernelKind::softmax);
  const Measure m{sphere_points(n, d, rng), random_weights(n, rng), index_positions(n)};
  const EnergyValue e = interaction_energy(model, m);
  const long double sum = dense::energy_double_sum(model, m.x, m.weights);
  const double log_expected = static_cast<double>(logl(sum / (2.0L * beta)));
  EXPECT_TRUE(std::isinf(e.value));
  EXPECT_NEAR(e.log_value, log_expected, energy_bound(model, m, log_expected));
  const double log_b = static_cast<double>(logl(sum / 2.0L));
  EXPECT_NEAR(interaction_energy_b(model, m).log_value, log_b, energy_bound(model, m, log_b));
}

// Σ_{i,j} w_i w_j e^{β(⟨x_i,x_j⟩ − 1)} against the dense sum, and two closed forms: all tokens at
// one point → 1; masses p and 1 − p at antipodes ±e → p² + (1−p)² + 2p(1−p)e^{−2β}.
TEST(Energy, NormalizedEnergyDenseAndClosedForms) {
  const Index n = 90, d = 3;
  Rng rng(6);
  const Matrix x = sphere_points(n, d, rng);
  const std::vector<double> w = random_weights(n, rng);
  for (double beta : {1.0, 10.0, 300.0, 1000.0}) {  // e^{1000} overflows float64
    SCOPED_TRACE(beta);
    const Measure m{x, w, index_positions(n)};
    const double expected = static_cast<double>(dense::normalized_energy(beta, x, w));
    const double got = normalized_energy(beta, m);
    // Each term's log Z_i is within the engine bound; then the shift by β and e^{·}: (β + 2) u,
    // and the N-term sum over i: N u.
    const Model model = identity_heads(d, beta, KernelKind::usa);
    const dense::FieldResult ref = dense::field(model, x, w, m.positions);
    const double rel =
        engine_bound(model, ref, w, n, d) + 2.0 * kU * (beta + 2.0 + static_cast<double>(n));
    EXPECT_NEAR(got, expected, rel * expected);
    EXPECT_GE(got, std::exp(-2.0 * beta));
    EXPECT_LE(got, 1.0);
  }
  Matrix same(n, d);
  for (Index i = 0; i < n; ++i) same.row(i) = x.row(0);
  EXPECT_NEAR(normalized_energy(7.0, Measure{same, w, index_positions(n)}), 1.0, 64.0 * kU * n);

  const double p = 0.3, beta = 1.5;
  Matrix two(2, d);
  two << 1.0, 0.0, 0.0, -1.0, 0.0, 0.0;
  const double closed = p * p + (1 - p) * (1 - p) + 2 * p * (1 - p) * std::exp(-2 * beta);
  EXPECT_NEAR(normalized_energy(beta, Measure{two, {p, 1 - p}, {0.0, 1.0}}), closed,
              64.0 * kU * closed);
}

// ∇E against 4th-order central differences of interaction_energy, for three heads with
// non-symmetric Q_hᵀK_h and random masses (a massless token has gradient exactly 0).
// Error of g ≈ [−E(+2h) + 8E(+h) − 8E(−h) + E(−2h)]/(12h):
//   truncation h⁴/30 · |∂⁵E| and round-off (18/12) δE/h, δE ≤ energy_bound · E.
// Along one coordinate every term w_i w_j e^{s(t)} has s quadratic in t with |s'| ≤ Λ and
// |s''| ≤ Λ, Λ = 2β max_h ‖Q_h‖‖K_h‖ (max|x| + 1), so |∂⁵ term| ≤ (Λ + √Λ + 1)⁵·term·e^{2hΛ}
// and |∂⁵E| ≤ (Λ + √Λ + 1)⁵ E e^{2hΛ} (all terms positive).
TEST(Energy, GradientMatchesFiniteDifferences) {
  const Index n = 12, d = 3;
  Rng rng(10);
  const double beta = 0.8;
  const Model model = multi_head(d, beta, KernelKind::softmax, rng);
  Measure m{radial_points(n, d, rng), random_weights(n, rng), index_positions(n)};
  const Matrix grad = energy_gradient(model, m);
  const double e0 = interaction_energy(model, m).value;
  double norm_qk = 0.0;
  for (const Head& h : model.heads)
    norm_qk = std::max(norm_qk,
                       Eigen::MatrixXd(h.Q).operatorNorm() * Eigen::MatrixXd(h.K).operatorNorm());
  const double lambda = 2.0 * beta * norm_qk * (m.x.rowwise().norm().maxCoeff() + 1.0);
  const double h = 1e-3;
  const double trunc = std::pow(h, 4) / 30.0 * std::pow(lambda + std::sqrt(lambda) + 1.0, 5) *
                       std::exp(2.0 * h * lambda);
  const double tol = (trunc + 1.5 * energy_bound(model, m, std::log(e0)) / h) * e0;
  double max_err = 0.0;
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < d; ++c) {
      const auto energy_at = [&](double delta) {
        Measure p = m;
        p.x(i, c) += delta;
        return interaction_energy(model, p).value;
      };
      const double fd =
          (-energy_at(2 * h) + 8 * energy_at(h) - 8 * energy_at(-h) + energy_at(-2 * h)) / (12 * h);
      EXPECT_NEAR(grad(i, c), fd, tol) << i << "," << c;
      max_err = std::max(max_err, std::fabs(grad(i, c) - fd));
      if (m.weights[i] == 0.0) {
        EXPECT_EQ(grad(i, c), 0.0);
      }
    }
  std::cout << "[ gradient ] max |∇E − FD| " << max_err << ", tolerance " << tol << ", |∇E| "
            << grad.cwiseAbs().maxCoeff() << "\n";
  EXPECT_GT(grad.cwiseAbs().maxCoeff(), 1e3 * tol);  // the check resolves the gradient
}

// Closed forms of the rate on the sphere with Q = K = V = I ([R]): ∇_{x_i} E = w_i Σ_j w_j
// e^{β⟨x_i,x_j⟩} x_j, so with ẋ_i = P⊥v_i
//   USA (v_i = Σ_j w_j e^{β⟨x_i,x_j⟩} x_j):          dE/dt = Σ_i w_i |P⊥v_i|²,
//   SA  (v_i the same divided by Z_i = Σ_j w_j e^{…}): dE/dt = Σ_i w_i Z_i |P⊥v_i|².
// energy_rate(∇E from the engine, ẋ from Dynamics) against these with v, Z from the dense
// reference. Each term is a product of two engine outputs, each within rel·scale, plus the
// projection's (2d + 8) u |v|² (⟨v, P⊥v⟩ = |P⊥v|² + c⟨x, P⊥v⟩ with ⟨x, P⊥v⟩ of rounding size).
TEST(Energy, RateEqualsClosedFormsForIdentityWeights) {
  const Index n = 50, d = 4;
  for (const KernelInfo& info : {kernel_info(KernelKind::softmax), kernel_info(KernelKind::usa)}) {
    for (double beta : {1.0, 4.0}) {
      SCOPED_TRACE(std::string(info.name) + " beta " + std::to_string(beta));
      Rng rng(12);
      const Model model = identity_heads(d, beta, info.kind, Geometry::sphere);
      const Measure m{sphere_points(n, d, rng), random_weights(n, rng), index_positions(n)};
      Dynamics dyn(AttentionField(model, m.weights, m.positions));
      Matrix xdot;
      dyn.velocity(0.0, m.x, xdot);
      const double rate = energy_rate(model, m, xdot);

      const dense::FieldResult ref = dense::field(model, m.x, m.weights, m.positions);
      const Matrix pv = dense::project_tangent(m.x, ref.v);
      const double rel = engine_bound(model, ref, m.weights, n, d);
      long double expected = 0.0L, scale = 0.0L;
      for (Index i = 0; i < n; ++i) {
        const long double z = info.kind == KernelKind::softmax ? expl(ref.heads[0].log_z[i]) : 1.0L;
        expected += m.weights[i] * z * pv.row(i).squaredNorm();
        scale += m.weights[i] * z * ref.v_abs.row(i).squaredNorm();
      }
      const double tol =
          static_cast<double>(scale) * (4.0 * rel + static_cast<double>(2 * d + 8) * kU);
      EXPECT_NEAR(rate, static_cast<double>(expected), tol);
      EXPECT_GT(static_cast<double>(expected), 1e3 * tol);
    }
  }
}

/// Energy at outputs along a DOPRI5 trajectory.
std::vector<double> energies_along(const Model& model, const Measure& m0,
                                   const std::vector<double>& times, double rtol) {
  Dynamics dyn(AttentionField(model, m0.weights, m0.positions));
  Matrix x = m0.x;
  IntegrateOptions opt;
  opt.method = Method::dopri5;
  opt.max_steps = kMaxSteps;
  opt.dt = 0.0;
  opt.rtol = rtol;
  opt.atol = rtol / 100.0;
  std::vector<double> e;
  integrate(dyn, x, times, opt, [&](std::size_t, double, const Matrix& s) {
    e.push_back(interaction_energy(model, Measure{s, m0.weights, m0.positions}).value);
  });
  return e;
}

// SA and USA with Q = K = V = I on the sphere ascend E: dE/dt ≥ 0 (the closed forms above), so
// E(t_k) never decreases. What may make a computed E decrease: the integrator's state error
// δx ≤ 10 rtol (IntegratorDopri5) changes E by ≤ Σ_i |∇_i E| |δx_i| ≤ 2βE·10 rtol
// (|∇_i E| ≤ w_i Z_i and Σ w_i Z_i = 2βE), at both ends; and E's own rounding (energy_bound).
TEST(Energy, MonotoneAlongSaAndUsaTrajectories) {
  const Index n = 24, d = 3;
  for (const KernelInfo& info : {kernel_info(KernelKind::softmax), kernel_info(KernelKind::usa)}) {
    for (double beta : {1.0, 4.0}) {
      SCOPED_TRACE(std::string(info.name) + " beta " + std::to_string(beta));
      Rng rng(14);
      const Model model = identity_heads(d, beta, info.kind, Geometry::sphere);
      const Measure m{sphere_points(n, d, rng), uniform_weights(n), index_positions(n)};
      std::vector<double> times;
      for (int k = 0; k <= 60; ++k) times.push_back(0.1 * k);
      const double rtol = 1e-10;
      const std::vector<double> e = energies_along(model, m, times, rtol);
      const double round = energy_bound(model, m, std::log(e.back()));
      for (std::size_t k = 1; k < e.size(); ++k) {
        const double tol = 2.0 * (2.0 * beta * 10.0 * rtol + round) * e[k];
        EXPECT_GE(e[k] - e[k - 1], -tol) << "t = " << times[k];
      }
      EXPECT_GT(e.back() - e.front(), 0.05 * e.front());  // the energy really changes
    }
  }
}

// dE/dt along a trajectory against a centred difference of E, for a multi-head model in R^d with
// V_h = Q_hᵀ K_h symmetric (K_h = M_h Q_h, M_h symmetric), small β: both kernels.
// (E(t+h) − E(t−h))/(2h) = E'(t) + E'''(t) h²/6 + O(h⁴): the error decreases as h² (slope 2 in
// [1.8, 2.2]); the trajectory's own error (rtol 1e-13) contributes ≲ 2βE·10⁻¹²/h ≪ E''' h²/6.
TEST(Energy, RateMatchesCentredDifferenceAlongTrajectory) {
  const Index n = 10, d = 3, k = 3;
  for (const KernelInfo& info : {kernel_info(KernelKind::softmax), kernel_info(KernelKind::usa)}) {
    SCOPED_TRACE(info.name);
    Rng rng(16);
    Model model;
    model.geometry = Geometry::euclidean;
    model.kernel = info.kind;
    model.beta = 0.5;
    for (int h = 0; h < 2; ++h) {
      const Matrix q = gaussian_matrix(k, d, rng, 0.3);  // ‖V_h‖ = O(1): no blow-up by t = 1.04
      const Matrix a = gaussian_matrix(k, k, rng);
      const Matrix sym = 0.5 * (a + a.transpose());
      const Matrix key = sym * q;
      model.heads.push_back(Head{q, key, q.transpose() * key, Matrix()});
    }
    const Measure m{sphere_points(n, d, rng), random_weights(n, rng), index_positions(n)};
    const std::vector<double> hs = {0.04, 0.02, 0.01};
    const double t0 = 1.0;
    std::vector<double> times = {0.0};
    for (auto it = hs.begin(); it != hs.end(); ++it) times.push_back(t0 - *it);
    std::sort(times.begin(), times.end());
    times.push_back(t0);
    for (auto it = hs.rbegin(); it != hs.rend(); ++it) times.push_back(t0 + *it);
    // times = 0, 0.96, 0.98, 0.99, 1, 1.01, 1.02, 1.04
    Dynamics dyn(AttentionField(model, m.weights, m.positions));
    Matrix x = m.x, x_mid;
    std::vector<double> e;
    IntegrateOptions opt;
    opt.method = Method::dopri5;
    opt.max_steps = kMaxSteps;
    opt.dt = 0.0;
    opt.rtol = 1e-13;
    opt.atol = 1e-15;
    integrate(dyn, x, times, opt, [&](std::size_t kk, double, const Matrix& s) {
      e.push_back(interaction_energy(model, Measure{s, m.weights, m.positions}).value);
      if (kk == 4) x_mid = s;
    });
    Matrix xdot;
    dyn.velocity(t0, x_mid, xdot);
    const double rate = energy_rate(model, Measure{x_mid, m.weights, m.positions}, xdot);
    std::vector<double> errors;
    for (std::size_t j = 0; j < hs.size(); ++j) {
      const double fd = (e[4 + (hs.size() - j)] - e[4 - (hs.size() - j)]) / (2.0 * hs[j]);
      errors.push_back(std::fabs(fd - rate));
    }
    const double slope = fitted_slope(hs, errors);
    std::cout << "[ rate FD ] " << info.name << " rate " << rate << " errors " << errors[0] << " "
              << errors[1] << " " << errors[2] << " slope " << slope << "\n";
    EXPECT_GE(slope, 1.8);
    EXPECT_LE(slope, 2.2);
    EXPECT_LT(errors.back(), 1e-3 * std::fabs(rate));
  }
}

}  // namespace
