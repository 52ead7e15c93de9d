// Stationary states of [B] (arXiv 2501.03096 §4–5): the residual max_i |P⊥ ∇Z_μ(x_i)| vanishes on
// the analytic stationary states (Diracs and antipodal pairs on eigenvectors of D, measures on
// S ∩ ker D) and matches a dense long-double evaluation elsewhere; the candidates' energies and
// W2 distances in closed form; an ascent run (V = +D, D PSD) ends at the Dirac on the top
// eigenvector, the maximiser of [B].
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "analysis_test_support.hpp"
#include "attnflow/analysis/stationary.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/integrator.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::analysis;
using analysistest::kU;

Matrix diag3(double a, double b, double c) {
  Matrix d = Matrix::Zero(3, 3);
  d.diagonal() << a, b, c;
  return d;
}

/// max_i |P⊥_{x_i} Σ_j w_j e^{⟨x_i, D x_j⟩} D x_j| by explicit loops in long double.
double dense_residual(const Matrix& D, const Measure& m) {
  long double best = 0.0L;
  const Index d = m.d();
  for (Index i = 0; i < m.n(); ++i) {
    if (!(m.weights[static_cast<std::size_t>(i)] > 0.0)) continue;
    std::vector<long double> g(static_cast<std::size_t>(d), 0.0L);
    for (Index j = 0; j < m.n(); ++j) {
      long double s = 0.0L;
      std::vector<long double> dx(static_cast<std::size_t>(d), 0.0L);
      for (Index a = 0; a < d; ++a)
        for (Index b = 0; b < d; ++b)
          dx[static_cast<std::size_t>(a)] += static_cast<long double>(D(a, b)) * m.x(j, b);
      for (Index a = 0; a < d; ++a)
        s += static_cast<long double>(m.x(i, a)) * dx[static_cast<std::size_t>(a)];
      const long double e = m.weights[static_cast<std::size_t>(j)] * expl(s);
      for (Index a = 0; a < d; ++a)
        g[static_cast<std::size_t>(a)] += e * dx[static_cast<std::size_t>(a)];
    }
    long double radial = 0.0L;
    for (Index a = 0; a < d; ++a) radial += g[static_cast<std::size_t>(a)] * m.x(i, a);
    long double norm = 0.0L;
    for (Index a = 0; a < d; ++a) {
      const long double t = g[static_cast<std::size_t>(a)] - radial * m.x(i, a);
      norm += t * t;
    }
    best = std::max(best, sqrtl(norm));
  }
  return static_cast<double>(best);
}

Measure copies(const Matrix& rows, const std::vector<double>& w) {
  return Measure{rows, w, analysistest::index_positions(rows.rows())};
}

// On a stationary state ∇Z(x_i) ∥ x_i exactly; in floating point the tangent part is the rounding
// of |∇Z| ≤ e^{λ_max}·|D|: a few ulps of it (64 u |∇Z| allows for the engine's sums and exp).
TEST(Stationary, ResidualVanishesOnAnalyticStationaryStates) {
  const Matrix D = diag3(3.0, 1.0, -2.0);
  const double scale = std::exp(3.0) * 3.0;
  Matrix dirac(4, 3);
  dirac.rowwise() = Eigen::RowVector3d(0, 0, 1);  // four tokens on the eigenvector e3
  EXPECT_LE(stationarity_residual(D, copies(dirac, analysistest::uniform_weights(4))).residual,
            64 * kU * scale);
  Matrix pair(2, 3);
  pair << 1, 0, 0, -1, 0, 0;  // antipodal pair on e1, unequal masses also stationary
  EXPECT_LE(stationarity_residual(D, copies(pair, {0.5, 0.5})).residual, 64 * kU * scale);
  // ker D of diag(2, 0, 0) is span(e2, e3): any tokens on that great circle.
  const Matrix Dk = diag3(2.0, 0.0, 0.0);
  Matrix circle(5, 3);
  for (int i = 0; i < 5; ++i) circle.row(i) << 0, std::cos(1.3 * i), std::sin(1.3 * i);
  EXPECT_LE(stationarity_residual(Dk, copies(circle, analysistest::uniform_weights(5))).residual,
            64 * kU * 2.0);
}

// Elsewhere the residual equals the dense evaluation (engine relative error ≲ 300u at scores ≤ 3)
// and is far from zero.
TEST(Stationary, ResidualMatchesDenseEvaluationElsewhere) {
  Rng rng(41);
  const Matrix g = analysistest::gaussian_matrix(4, 4, rng, 0.5);
  const Matrix D = g + g.transpose();
  Measure m{analysistest::sphere_points(30, 4, rng), analysistest::random_weights(30, rng),
            analysistest::index_positions(30)};
  const double expected = dense_residual(D, m);
  const StationarityResidual r = stationarity_residual(D, m);
  EXPECT_NEAR(r.residual, expected, 1e-12 * expected);
  EXPECT_GT(expected, 0.05);
  EXPECT_GT(r.normalized_residual, 0.0);
  EXPECT_LE(r.normalized_residual, r.residual / 0.5);  // Z ≥ e^{−|D|} ≥ ... here Z > 0.5
}

// Energies of the candidates in closed form (½e^λ; ½[(p² + (1−p)²)e^λ + 2p(1−p)e^{−λ}], ½cosh λ at
// p = ½; ½) and W2: a Dirac state is at distance 0 from its Dirac and from the antipodal family
// (p = 1), at √(2 − 2⟨e1, e⟩) = √2 from the Diracs on orthogonal eigenvectors; an antipodal state
// with masses (5/8, 3/8) is at distance 0 from its pair and at W2² = 3/8·4 from the Dirac.
TEST(Stationary, CandidatesEnergiesAndDistances) {
  const Matrix D = diag3(1.5, 0.0, -0.5);
  Matrix dirac(3, 3);
  dirac.rowwise() = Eigen::RowVector3d(1, 0, 0);
  const Measure m = copies(dirac, analysistest::uniform_weights(3));
  const std::vector<Candidate> c = stationary_candidates(D, m);
  ASSERT_EQ(c.size(), 7u);  // 3 eigenvectors × (dirac, antipodal) + kernel
  for (const Candidate& k : c) {
    if (k.kind == "dirac") {
      EXPECT_NEAR(k.energy, 0.5 * std::exp(k.eigenvalue), 1e-15);
    }
    if (k.kind == "antipodal") {
      EXPECT_NEAR(k.mass_plus, 1.0, 1e-15);
    }
    if (k.kind == "antipodal") {
      EXPECT_NEAR(k.energy, 0.5 * std::exp(k.eigenvalue), 1e-15);
    }
    if (k.kind == "kernel") {
      EXPECT_EQ(k.energy, 0.5);
    }
    if (k.eigenvalue == 1.5 && k.kind == "dirac") {
      EXPECT_NEAR(k.w2, 0.0, 1e-15);
    }
    if (k.eigenvalue == 1.5 && k.kind == "antipodal") {
      EXPECT_NEAR(k.w2, 0.0, 1e-15);
    }
    if (k.eigenvalue == 0.0 && k.kind == "dirac") {
      EXPECT_NEAR(k.w2, std::sqrt(2.0), 1e-15);
    }
    // ker D = span(e2): the nearest kernel point of e1 is at 90°: distance² = 2.
    if (k.kind == "kernel") {
      EXPECT_NEAR(k.w2, std::sqrt(2.0), 1e-15);
    }
  }
  EXPECT_NEAR(energy_b(D, m), 0.5 * std::exp(1.5), 1e-14);
  Matrix pair(2, 3);
  pair << 0, 0, 1, 0, 0, -1;
  const Measure split = copies(pair, {5.0 / 8.0, 3.0 / 8.0});
  EXPECT_LE(stationarity_residual(D, split).residual, 64 * kU * std::exp(1.5) * 1.5);
  for (const Candidate& k : stationary_candidates(D, split)) {
    if (k.eigenvalue == -0.5 && k.kind == "antipodal") {
      EXPECT_NEAR(k.w2, 0.0, 1e-15);
      EXPECT_NEAR(k.mass_plus, std::abs(k.direction(2) - 1.0) < 1e-12 ? 5.0 / 8.0 : 3.0 / 8.0,
                  1e-15);
      EXPECT_NEAR(k.energy, energy_b(D, split), 1e-14);
    }
    if (k.eigenvalue == -0.5 && k.kind == "dirac") {
      EXPECT_NEAR(k.w2, std::sqrt(1.5), 1e-14);
    }
  }
  EXPECT_NEAR(energy_b(D, copies(pair, {0.5, 0.5})), 0.5 * std::cosh(-0.5), 1e-14);
}

// Ascent V = +D with D = diag(2, 1, 0.5) PSD: [B]'s maximiser is the Dirac on the top eigenvector
// (energy ½e²). From random tokens in the cap x₁ > 0 (from the whole sphere the flow may stop at
// an antipodal pair on e1, a stationary but not maximal state), SA with Q = I, K = D, V = D, β = 1
// reaches it: the residual decays and the closest candidate is the Dirac on e1. Time 40 at rk4
// dt = 0.05.
TEST(Stationary, AscentRunReachesTheMaximiser) {
  Rng rng(42);
  const Matrix D = diag3(2.0, 1.0, 0.5);
  const Model model =
      analysistest::one_head(Matrix::Identity(3, 3), D, D, 1.0, KernelKind::softmax);
  EXPECT_EQ(interaction_matrix(model, "model"), D);
  Measure m{analysistest::sphere_points(16, 3, rng), analysistest::uniform_weights(16),
            analysistest::index_positions(16)};
  for (Index i = 0; i < 16; ++i) {
    m.x(i, 0) = std::fabs(m.x(i, 0)) + 0.3;
    m.x.row(i) /= m.x.row(i).norm();
  }
  const double start = stationarity_residual(D, m).residual;
  Dynamics dyn(AttentionField(model, m.weights, m.positions));
  IntegrateOptions o;
  o.method = Method::rk4;
  o.dt = 0.05;
  integrate(dyn, m.x, {0.0, 40.0}, o, [](std::size_t, double, const Matrix&) {});
  const double end = stationarity_residual(D, m).residual;
  EXPECT_LT(end, 1e-8 * start);
  double best = 1e9;
  std::string kind;
  Index index = -1;
  for (const Candidate& c : stationary_candidates(D, m))
    if (c.w2 < best) {
      best = c.w2;
      kind = c.kind;
      index = c.eigen_index;
    }
  EXPECT_EQ(kind, "dirac");
  EXPECT_EQ(index, 2);  // eigenvalues ascending: 0.5, 1, 2
  EXPECT_LT(best, 1e-6);
  EXPECT_NEAR(energy_b(D, m), 0.5 * std::exp(2.0), 1e-6);
}

TEST(Stationary, RefusesNonSymmetricOrMultiHeadModels) {
  Matrix k = Matrix::Identity(3, 3);
  k(0, 1) = 1.0;
  const Model model =
      analysistest::one_head(Matrix::Identity(3, 3), k, k, 1.0, KernelKind::softmax);
  try {
    interaction_matrix(model, "--stationary");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(
                  "--stationary: the [B] analysis needs D = beta Q^T K symmetric", 0),
              0u);
  }
  Model two = model;
  two.heads.push_back(two.heads.front());
  EXPECT_THROW(interaction_matrix(two, "--stationary"), InputError);
}

}  // namespace
