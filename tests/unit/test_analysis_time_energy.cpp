// [M]'s time-dependent energy (time_energy.hpp) and the energy-dissipation identity
// (dissipation.hpp): the energy against a dense double sum and the static energies, ∂_t E against
// finite differences in t, ∇E against finite differences in x, and the identity's residual against
// its convergence order for rk4, euler and dopri5, with sinusoid, relaxation and OU weights.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attnflow/dissipation.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/time_energy.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

/// E(t, μ) = 1/(2H) Σ_h Σ_ij w_i w_j exp(β⟨Q_h x_i, K_h x_j⟩) by the plain double loop.
double dense_time_energy(const Model& m, const Matrix& x, const std::vector<double>& w) {
  double s = 0.0;
  for (const Head& h : m.heads)
    for (Index i = 0; i < x.rows(); ++i)
      for (Index j = 0; j < x.rows(); ++j)
        s += w[static_cast<std::size_t>(i)] * w[static_cast<std::size_t>(j)] *
             std::exp(m.beta * (h.Q * x.row(i).transpose()).dot(h.K * x.row(j).transpose()));
  return s / (2.0 * static_cast<double>(m.heads.size()));
}

/// Two heads whose every ingredient of D_h = β Q_hᵀK_h moves: β(t) a sinusoid, Q_0 a sinusoid,
/// K_0 a relaxation, K_1 `k1` (given), V_h constant random (not a gradient flow), on the sphere.
Model moving_model(Index d, Rng& rng, const MatrixSchedule& k1) {
  auto schedule = std::make_shared<ModelSchedule>();
  schedule->beta =
      MatrixSchedule::sinusoid(Matrix::Constant(1, 1, 1.0), Matrix::Constant(1, 1, 0.3), 1.7, 0.2);
  const double sd = 1.0 / std::sqrt(static_cast<double>(d));
  HeadSchedule h0{
      MatrixSchedule::sinusoid(gaussian_matrix(d, d, rng, sd), gaussian_matrix(d, d, rng, 0.5 * sd),
                               gaussian_matrix(d, d, rng, 2.0), Matrix::Zero(d, d)),
      MatrixSchedule::relaxation(gaussian_matrix(d, d, rng, sd), 1.3, Matrix::Identity(d, d),
                                 Matrix::Constant(d, d, 0.5), Matrix::Constant(d, d, 2.0),
                                 Matrix::Zero(d, d)),
      MatrixSchedule::constant(gaussian_matrix(d, d, rng, sd)), MatrixSchedule::constant(Matrix())};
  HeadSchedule h1{MatrixSchedule::constant(Matrix::Identity(d, d)), k1,
                  MatrixSchedule::constant(gaussian_matrix(d, d, rng, sd)),
                  MatrixSchedule::constant(Matrix())};
  schedule->heads = {h0, h1};
  Model m;
  m.geometry = Geometry::sphere;
  m.kernel = KernelKind::softmax;
  m.schedule = schedule;
  for (const HeadSchedule& h : schedule->heads)
    m.heads.push_back(Head{h.Q.at(0.0), h.K.at(0.0), h.V.at(0.0), h.W.at(0.0)});
  m.beta = schedule->beta.at(0.0)(0, 0);
  return m;
}

MatrixSchedule ou_path(Index d, double grid_dt, double t_end, std::uint64_t seed) {
  return MatrixSchedule::ornstein_uhlenbeck(Matrix::Identity(d, d), Matrix::Identity(d, d), 1.0,
                                            1.0, grid_dt, t_end, seed, true);
}

Model at_time(Model m, double t) {
  apply_schedule(m, t);
  return m;
}

TEST(TimeEnergy, DenseSumAndStaticEnergies) {
  Rng rng(11);
  const Index n = 9, d = 3;
  const Matrix x = sphere_points(n, d, rng);
  const std::vector<double> w = random_weights(n, rng);
  const Measure mu{x, w, index_positions(n)};
  const Model m = moving_model(d, rng, ou_path(d, 0.1, 2.0, 5));
  for (double t : {0.0, 0.37, 1.5}) {
    const Model mt = at_time(m, t);
    const double dense = dense_time_energy(mt, x, w);
    const EnergyValue e = time_energy(interaction_matrices(mt), mu);
    EXPECT_NEAR(e.value, dense, 1e-13 * dense);
    EXPECT_NEAR(e.log_value, std::log(dense), 1e-13);
    // Documented scalings: E_[M] = β/H · E_[R] (energy.hpp) = 1/H · E_[B].
    EXPECT_NEAR(e.value, mt.beta / 2.0 * interaction_energy(mt, mu).value, 1e-13 * dense);
    EXPECT_NEAR(e.value, interaction_energy_b(mt, mu).value / 2.0, 1e-13 * dense);
  }
  // Constant weights: ∂_t E = 0 and the identity model gives [R]'s E_β·β.
  Model id = identity_model(d, 2.0);
  const EnergyValue e = time_energy(interaction_matrices(id), mu);
  EXPECT_NEAR(e.value, 2.0 * interaction_energy(id, mu).value, 1e-13 * e.value);
  EXPECT_EQ(
      time_energy_partial_t(interaction_matrices(id), interaction_matrix_rates(id, 0.3, 0.3), mu),
      0.0);
}

// ∂_t E against the central difference c(h) = (E(t+h) − E(t−h))/(2h) of E(t, μ) at fixed μ:
// c(h) = ∂_t E + h²/6 ∂³_t E + O(h⁴), so c(h) − ∂_t E must shrink by 4 from h to h/2 (a wrong ∂_t E
// would leave a constant gap) and the Richardson value (4c(h/2) − c(h))/3, accurate to O(h⁴) ≈
// 1e-12 at h = 1e-3 plus rounding ε·E/h ≈ 1e-12, must agree to 1e-8. OU weights are linear in t
// inside a grid cell, so E is smooth there; at a grid point the one-sided derivatives are checked
// with one-sided second-order differences.
TEST(TimeEnergy, PartialTimeDerivativeMatchesFiniteDifferences) {
  Rng rng(3);
  const Index n = 7, d = 3;
  const Matrix x = sphere_points(n, d, rng);
  const Measure mu{x, uniform_weights(n), index_positions(n)};
  const Model m = moving_model(d, rng, ou_path(d, 0.1, 2.0, 9));
  auto energy = [&](double t) {
    return time_energy(interaction_matrices(at_time(m, t)), mu).value;
  };
  auto partial = [&](double t, double piece) {
    return time_energy_partial_t(interaction_matrices(at_time(m, t)),
                                 interaction_matrix_rates(at_time(m, t), t, piece), mu);
  };
  auto central = [&](double t, double h) { return (energy(t + h) - energy(t - h)) / (2.0 * h); };
  for (double t : {0.23, 0.77, 1.41}) {  // inside OU cells, ≥ 0.02 from a grid point
    const double exact = partial(t, t), h = 1e-3;
    const double c1 = central(t, h), c2 = central(t, h / 2);
    EXPECT_GT(std::fabs(c1 - exact) / std::fabs(c2 - exact), 3.0) << "t = " << t;
    EXPECT_NEAR((4.0 * c2 - c1) / 3.0, exact, 1e-8 * std::max(1.0, std::fabs(exact)))
        << "t = " << t;
  }
  // A grid point of the OU path: left and right derivatives differ; each matches its side.
  const double tk = 0.5, h = 1e-4;
  const double left = partial(tk, tk - 0.05), right = partial(tk, tk + 0.05);
  const double fd_left =
      (3.0 * energy(tk) - 4.0 * energy(tk - h) + energy(tk - 2.0 * h)) / (2.0 * h);
  const double fd_right =
      (-3.0 * energy(tk) + 4.0 * energy(tk + h) - energy(tk + 2.0 * h)) / (2.0 * h);
  EXPECT_NEAR(left, fd_left, 1e-6 * std::max(1.0, std::fabs(left)));
  EXPECT_NEAR(right, fd_right, 1e-6 * std::max(1.0, std::fabs(right)));
  EXPECT_GT(std::fabs(left - right), 1e-3);  // the kink is real
}

// ∇_{x_i} E against central differences in x (non-symmetric D_h, random masses), and the one-pass
// derivative against ∂_t E + Σ⟨∇E, v⟩ from the separate functions.
TEST(TimeEnergy, GradientAndDerivativeMatchFiniteDifferences) {
  Rng rng(5);
  const Index n = 6, d = 3;
  const Matrix x = sphere_points(n, d, rng);
  const std::vector<double> w = random_weights(n, rng);
  const std::vector<double> pos = index_positions(n);
  const Model m = at_time(moving_model(d, rng, ou_path(d, 0.1, 2.0, 2)), 0.61);
  const std::vector<Matrix> D = interaction_matrices(m);
  const Matrix grad = time_energy_gradient(D, Measure{x, w, pos});
  const double h = 1e-5;
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < d; ++c) {
      Matrix xp = x, xm = x;
      xp(i, c) += h;
      xm(i, c) -= h;
      const double fd =
          (time_energy(D, Measure{xp, w, pos}).value - time_energy(D, Measure{xm, w, pos}).value) /
          (2.0 * h);
      EXPECT_NEAR(grad(i, c), fd, 1e-8) << i << "," << c;
    }
  const Matrix v = gaussian_matrix(n, d, rng);
  const std::vector<Matrix> rates = interaction_matrix_rates(m, 0.61, 0.61);
  const Measure mu{x, w, pos};
  double dot = 0.0;
  for (Index k = 0; k < v.size(); ++k) dot += grad.data()[k] * v.data()[k];
  const double total = time_energy_partial_t(D, rates, mu) + dot;
  EXPECT_NEAR(time_energy_derivative(D, rates, mu, v), total, 1e-13 * std::fabs(total) + 1e-15);
}

/// R(T) of [M]'s identity for a run of `method` with step dt, stopping at the weights'
/// breakpoints (as `attnflow run` does).
double final_residual(const Model& m, const Matrix& x0, double t_end, Method method, double dt) {
  const Index n = x0.rows();
  Dynamics dyn(AttentionField(m, uniform_weights(n), index_positions(n)));
  std::vector<double> times{0.0};
  for (double b : m.schedule->breakpoints(t_end)) times.push_back(b);
  times.push_back(t_end);
  DissipationIntegral quad(m, uniform_weights(n), index_positions(n));
  quad.start(0.0, x0);
  IntegrateOptions opt;
  opt.method = method;
  opt.dt = dt;
  opt.max_steps = kMaxSteps;
  Matrix x = x0;
  integrate(
      dyn, x, times, opt, [](std::size_t, double, const Matrix&) {}, &quad);
  return quad.residual(t_end, x);
}

/// Least-squares slope of log |R| against log dt.
double fitted_order(const std::vector<double>& dts, const std::vector<double>& residuals) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const auto k = static_cast<double>(dts.size());
  for (std::size_t i = 0; i < dts.size(); ++i) {
    const double a = std::log(dts[i]), b = std::log(std::fabs(residuals[i]));
    sx += a;
    sy += b;
    sxx += a * a;
    sxy += a * b;
  }
  return (k * sxy - sx * sy) / (k * sxx - sx * sx);
}

// The residual R(T) = E(T) − E(0) − ∫ dE/dt vanishes at the integrator's order: 4 for rk4, 1 for
// euler (the Post-LN discrete layer), for smooth weights (sinusoid, relaxation) and for OU paths
// (piecewise linear: the run stops at their grid points, so each step sees smooth weights).
TEST(DissipationIdentity, ResidualConvergesAtTheIntegratorsOrder) {
  const Index n = 8, d = 3;
  const double t_end = 1.0;
  for (bool ou : {false, true}) {
    SCOPED_TRACE(ou ? "OU weights" : "sinusoid weights");
    Rng rng(21);
    const Matrix x0 = sphere_points(n, d, rng);
    const MatrixSchedule k1 = ou ? ou_path(d, 0.1, t_end, 4)
                                 : MatrixSchedule::sinusoid(Matrix::Identity(d, d),
                                                            Matrix::Constant(d, d, 0.4), 3.0, 0.1);
    const Model m = moving_model(d, rng, k1);
    std::vector<double> dts{0.1, 0.05, 0.025, 0.0125}, r4, r1;
    for (double dt : dts) r4.push_back(final_residual(m, x0, t_end, Method::rk4, dt));
    const std::vector<double> euler_dts{0.02, 0.01, 0.005, 0.0025};
    for (double dt : euler_dts) r1.push_back(final_residual(m, x0, t_end, Method::euler, dt));
    const double p4 = fitted_order(dts, r4), p1 = fitted_order(euler_dts, r1);
    std::cout << "  rk4 residuals";
    for (double r : r4) std::cout << " " << r;
    std::cout << "  order " << p4 << "\n  euler residuals";
    for (double r : r1) std::cout << " " << r;
    std::cout << "  order " << p1 << "\n";
    EXPECT_GE(p4, 3.5);
    EXPECT_LE(p4, 4.5);
    EXPECT_GE(p1, 0.8);
    EXPECT_LE(p1, 1.2);
    // Refuting the trivial pass: the residual is not round-off everywhere (it is measured).
    EXPECT_GT(std::fabs(r4.front()), 1e-12);
  }
}

// dopri5: the residual follows the tolerance (it is not in the error control, but the stages are
// accurate to it): ≤ 100·rtol·E, and it shrinks when the tolerance does.
TEST(DissipationIdentity, Dopri5ResidualFollowsItsTolerance) {
  const Index n = 8, d = 3;
  Rng rng(8);
  const Matrix x0 = sphere_points(n, d, rng);
  const Model m = moving_model(d, rng, ou_path(d, 0.1, 1.0, 6));
  auto residual = [&](double rtol) {
    const Index nn = x0.rows();
    Dynamics dyn(AttentionField(m, uniform_weights(nn), index_positions(nn)));
    std::vector<double> times{0.0};
    for (double b : m.schedule->breakpoints(1.0)) times.push_back(b);
    times.push_back(1.0);
    DissipationIntegral quad(m, uniform_weights(nn), index_positions(nn));
    quad.start(0.0, x0);
    IntegrateOptions opt;
    opt.method = Method::dopri5;
    opt.dt = 0.0;
    opt.rtol = rtol;
    opt.atol = rtol * 1e-2;
    opt.max_steps = kMaxSteps;
    Matrix x = x0;
    integrate(
        dyn, x, times, opt, [](std::size_t, double, const Matrix&) {}, &quad);
    return std::fabs(quad.residual(1.0, x));
  };
  const double energy =
      time_energy(interaction_matrices(m), Measure{x0, uniform_weights(n), index_positions(n)})
          .value;
  const double loose = residual(1e-5), tight = residual(1e-9);
  EXPECT_LT(loose, 100 * 1e-5 * energy);
  EXPECT_LT(tight, 100 * 1e-9 * energy);
  EXPECT_LT(tight, loose);
}

}  // namespace
