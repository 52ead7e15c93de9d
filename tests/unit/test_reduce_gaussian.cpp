// The Gaussian reduction of the Transformer PDE ([C] §Gaussian; docs/reduced_models.md §1):
// closed forms derived by hand, a Monte-Carlo check of the affine velocity of every kernel against
// a dense particle computation written here, particles of the engine against the ODE, PSD / rank
// preservation and the blow-up time.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/init.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/reduce/gaussian.hpp"
#include "attnflow/rng.hpp"
#include "attnflow/schedule.hpp"
#include "integrate_test_support.hpp"

namespace {

using attnflow::test::grid;

using namespace attnflow;
using namespace attnflow::reduce;
using Dense = Eigen::MatrixXd;

Matrix random_matrix(Index r, Index c, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  Matrix m(r, c);
  for (Index i = 0; i < r; ++i)
    for (Index j = 0; j < c; ++j) m(i, j) = scale * rng.normal();
  return m;
}

Matrix random_spd(Index d, std::uint64_t seed, double scale) {
  const Matrix g = random_matrix(d, d, seed);
  return scale * (g * g.transpose() / static_cast<double>(d) + 0.2 * Matrix::Identity(d, d));
}

Model one_head(Matrix q, Matrix k, Matrix v, double beta, KernelKind kernel = KernelKind::softmax) {
  Model m;
  m.geometry = Geometry::euclidean;
  m.normalization = Normalization::none;
  m.kernel = kernel;
  m.beta = beta;
  m.heads.push_back(Head{std::move(q), std::move(k), std::move(v), Matrix()});
  return m;
}

IntegrateOptions tight() {
  return attnflow::test::dopri5_options(1e-11, 1e-13);
}

double max_eig(const Matrix& s) {
  return Eigen::SelfAdjointEigenSolver<Dense>(Dense(s), Eigen::EigenvaluesOnly)
      .eigenvalues()
      .maxCoeff();
}

// V = I (docs §1.3): Σ̇ = ΣAΣ + ΣAᵀΣ = ΣBΣ with B = A + Aᵀ, hence d(Σ⁻¹)/dt = −Σ⁻¹Σ̇Σ⁻¹ = −B and
//     Σ(t) = (Σ0⁻¹ − tB)⁻¹,
// whatever A. Two heads with V_h = I and W_h = I/2 give C_h = I/2 and B = Σ_h (A_h + A_hᵀ)/2.
// Tolerance: DOPRI5 at rtol 1e-11 keeps the relative global error of every entry ≲ 10·rtol·e^{Lt};
// over t ≤ t*/2 the amplification is ≤ 4 (‖Σ(t)‖ ≤ 2‖Σ0‖ there), so 1e-8 relative is a safe bound.
TEST(ReduceGaussian, IdentityValueCovarianceClosedForm) {
  const Index d = 3;
  const Matrix sigma0 = random_spd(d, 11, 0.5);
  const Vector m0 = Vector::LinSpaced(d, -1.0, 1.0);
  std::vector<Model> models;
  models.push_back(
      one_head(random_matrix(d, d, 1), random_matrix(d, d, 2), Matrix::Identity(d, d), 0.7));
  Model two = one_head(random_matrix(2, d, 3), random_matrix(2, d, 4), Matrix::Identity(d, d), 0.9);
  two.heads.push_back(
      Head{random_matrix(d, d, 5), random_matrix(d, d, 6), Matrix::Identity(d, d), Matrix()});
  for (Head& h : two.heads) h.W = 0.5 * Matrix::Identity(d, d);
  models.push_back(two);
  for (std::size_t c = 0; c < models.size(); ++c) {
    SCOPED_TRACE("model " + std::to_string(c));
    const Model& model = models[c];
    Matrix b = Matrix::Zero(d, d);
    for (const Head& h : model.heads) {
      const Matrix a = model.beta * h.K.transpose() * h.Q;
      const double weight = h.W.size() == 0 ? 1.0 : 0.5;
      b += weight * (a + a.transpose());
    }
    // Blow-up at t* = 1/λmax(Σ0^{1/2} B Σ0^{1/2}) when positive; integrate to t*/2 (or 2).
    const Eigen::SelfAdjointEigenSolver<Dense> e0{Dense(sigma0)};
    const Dense root = e0.operatorSqrt();
    const double lam = max_eig(root * b * root);
    const double t_end = lam > 0.0 ? 0.5 / lam : 2.0;
    GaussianSolveOptions opt;
    opt.integrate = tight();
    const GaussianSolution sol = solve_gaussian(model, m0, sigma0, grid(t_end, 5), opt);
    ASSERT_EQ(sol.frames.size(), 6u);
    EXPECT_FALSE(sol.blowup_time.has_value());
    for (const GaussianFrame& f : sol.frames) {
      const Matrix expected = (sigma0.inverse() - f.t * b).inverse();
      EXPECT_LE((f.cov - expected).norm(), 1e-8 * expected.norm()) << "t = " << f.t;
    }
    // Non-vacuous: Σ moved by more than 10 % of its size.
    EXPECT_GT((sol.frames.back().cov - sigma0).norm(), 0.1 * sigma0.norm());
  }
}

// Time-dependent weights ([M]; docs §1.3): (G1) holds at every t, and with V = I still
// d(Σ⁻¹)/dt = −B(t), B = A + Aᵀ. For K(t) = K0 + K1 sin(ωt), A(t) = βK(t)ᵀQ = A0 + A1 sin(ωt) and
//     Σ(t)⁻¹ = Σ0⁻¹ − t (A0 + A0ᵀ) − (1 − cos ωt)/ω (A1 + A1ᵀ).
// Tolerance as above (t_end is a quarter of the first blow-up time bound, so ‖Σ‖ stays O(‖Σ0‖)).
TEST(ReduceGaussian, TimeDependentWeightsClosedForm) {
  const Index d = 2;
  const Matrix sigma0 = random_spd(d, 91, 0.3);
  const Matrix q = random_matrix(d, d, 92), k0 = random_matrix(d, d, 93),
               k1 = random_matrix(d, d, 94);
  const double beta = 0.8, omega = 3.0;
  Model model = one_head(q, k0, Matrix::Identity(d, d), beta);
  auto schedule = std::make_shared<ModelSchedule>();
  schedule->beta = MatrixSchedule::constant(Matrix::Constant(1, 1, beta));
  schedule->heads.push_back(HeadSchedule{
      MatrixSchedule::constant(q), MatrixSchedule::sinusoid(k0, k1, omega, 0.0),
      MatrixSchedule::constant(Matrix::Identity(d, d)), MatrixSchedule::constant(Matrix())});
  model.schedule = schedule;
  const Matrix a0 = beta * k0.transpose() * q, a1 = beta * k1.transpose() * q;
  const Eigen::SelfAdjointEigenSolver<Dense> e0{Dense(sigma0)};
  const double bound =
      max_eig(e0.operatorSqrt() *
              Dense((a0 + a0.transpose()).cwiseAbs() + (a1 + a1.transpose()).cwiseAbs()) *
              e0.operatorSqrt());
  const double t_end = 0.25 / bound;
  GaussianSolveOptions opt;
  opt.integrate = tight();
  const GaussianSolution sol = solve_gaussian(model, Vector::Zero(d), sigma0, grid(t_end, 4), opt);
  ASSERT_EQ(sol.frames.size(), 5u);
  for (const GaussianFrame& f : sol.frames) {
    const Matrix inv = sigma0.inverse() - f.t * (a0 + a0.transpose()) -
                       (1.0 - std::cos(omega * f.t)) / omega * (a1 + a1.transpose());
    const Matrix expected = inv.inverse();
    EXPECT_LE((f.cov - expected).norm(), 1e-8 * expected.norm()) << "t = " << f.t;
  }
  // Non-vacuous: the constant-weight solution differs by more than the tolerance.
  const Matrix frozen = (sigma0.inverse() - t_end * (a0 + a0.transpose())).inverse();
  EXPECT_GT((sol.frames.back().cov - frozen).norm(), 1e-4 * frozen.norm());
}

// V = I, A = aI (Q = I, K = (a/β) I): Σ(t) = U diag(λ_k/(1 − 2aλ_k t)) Uᵀ commutes with itself
// at all times, so ṁ = (I + aΣ(t)) m integrates to
//     m(t) = e^t U diag((1 − 2aλ_k t)^{−1/2}) Uᵀ m0,
// since ∫₀ᵗ aλ/(1 − 2aλs) ds = −½ log(1 − 2aλt). a < 0 contracts Σ like 1/t ([C]: "clustering");
// a > 0 blows up at t* = 1/(2aλmax). Tolerance as above.
TEST(ReduceGaussian, IsotropicScoreMeanAndCovarianceClosedForm) {
  const Index d = 3;
  const Matrix sigma0 = random_spd(d, 21, 0.4);
  const Vector m0 = (Vector(d) << 0.3, -0.5, 0.8).finished();
  const Eigen::SelfAdjointEigenSolver<Dense> eig{Dense(sigma0)};
  const double beta = 1.3;
  for (double a : {-2.0, 0.6}) {
    SCOPED_TRACE("a = " + std::to_string(a));
    const Model model = one_head(Matrix::Identity(d, d), (a / beta) * Matrix::Identity(d, d),
                                 Matrix::Identity(d, d), beta);
    const double t_end = a > 0.0 ? 0.45 / (2.0 * a * eig.eigenvalues().maxCoeff()) : 3.0;
    GaussianSolveOptions opt;
    opt.integrate = tight();
    const GaussianSolution sol = solve_gaussian(model, m0, sigma0, grid(t_end, 6), opt);
    ASSERT_EQ(sol.frames.size(), 7u);
    for (const GaussianFrame& f : sol.frames) {
      Vector cov_diag(d), mean_diag(d);
      for (Index k = 0; k < d; ++k) {
        const double lam = eig.eigenvalues()(k);
        cov_diag(k) = lam / (1.0 - 2.0 * a * lam * f.t);
        mean_diag(k) = std::exp(f.t) / std::sqrt(1.0 - 2.0 * a * lam * f.t);
      }
      const Dense u = eig.eigenvectors();
      const Matrix cov = u * cov_diag.asDiagonal() * u.transpose();
      const Vector mean = u * mean_diag.asDiagonal() * u.transpose() * m0;
      EXPECT_LE((f.cov - cov).norm(), 1e-8 * cov.norm()) << "t = " << f.t;
      EXPECT_LE((f.mean - mean).norm(), 1e-8 * mean.norm()) << "t = " << f.t;
    }
    if (a < 0.0) {
      EXPECT_LT(sol.frames.back().cov.trace(), 0.25 * sigma0.trace());  // contracted
    }
  }
}

// Blow-up (docs §1.5): with V = I the closed form above is finite exactly until
// t* = 1/λmax(Σ0^{1/2} B Σ0^{1/2}). The estimate extrapolates the simple pole tr Σ ≈ c/(t* − t)
// from tr Σ = 1e12 tr Σ0, where t* − t ~ 1e-12 t*: its error is dominated by the integration of t
// in the rescaled flow (relative ~ rtol = 1e-11 per unit s over s ≈ 30): we require 1e-8 relative.
// Both paths are exercised: dopri5 with output times beyond t* (step-size collapse) and RK4 with
// a fixed step (the trace threshold at an output time).
TEST(ReduceGaussian, BlowUpTimeMatchesClosedForm) {
  const Index d = 2;
  const Matrix sigma0 = (Matrix(2, 2) << 0.2, 0.05, 0.05, 0.1).finished();
  const Vector m0 = (Vector(2) << 1.0, 0.5).finished();
  const Model iso =
      one_head(Matrix::Identity(d, d), Matrix::Identity(d, d), Matrix::Identity(d, d), 1.0);
  const Model general =
      one_head(random_matrix(d, d, 31), random_matrix(d, d, 32), Matrix::Identity(d, d), 1.0);
  for (const Model* model : {&iso, &general}) {
    const Matrix a = model->beta * model->heads[0].K.transpose() * model->heads[0].Q;
    const Eigen::SelfAdjointEigenSolver<Dense> e0{Dense(sigma0)};
    const Dense root = e0.operatorSqrt();
    const double lam = max_eig(root * (a + a.transpose()) * root);
    ASSERT_GT(lam, 0.0);
    const double t_star = 1.0 / lam;
    for (Method method : {Method::dopri5, Method::rk4}) {
      SCOPED_TRACE(std::string(method_name(method)));
      GaussianSolveOptions opt;
      opt.integrate = tight();
      opt.integrate.method = method;
      opt.integrate.dt = method == Method::rk4 ? t_star / 500.0 : 0.0;
      const std::vector<double> times = grid(3.1 * t_star, 12);  // t* lies between frames 3 and 4
      const GaussianSolution sol = solve_gaussian(*model, m0, sigma0, times, opt);
      ASSERT_TRUE(sol.blowup_time.has_value());
      EXPECT_NEAR(*sol.blowup_time, t_star, 1e-8 * t_star);
      EXPECT_LE(*sol.blowup_detected_at, *sol.blowup_time);
      ASSERT_EQ(sol.frames.size(), 4u);  // t = k·0.258 t*, k = 0..3
      EXPECT_LT(sol.frames.back().t, t_star);
      // The blow-up is handed to the rescaled flow at the first accepted step past the threshold
      // 10¹² tr Σ0. dopri5 then spends ~1–2·10⁴ evaluations (its steps are a fixed fraction of
      // t* − t across the 28 e-folds of tr Σ); running on until the state overflowed cost
      // ~1.3·10⁵. rk4's fixed steps are unaffected (~6·10³).
      EXPECT_LT(sol.stats.evaluations, 50000u);
    }
  }
}

// PSD and rank (docs §1.4): the state carries L with Σ = LLᵀ and L̇ = ML, so Σ stays PSD and of
// constant rank under any integrator, even a coarse Euler step. A rank-one Σ0 = uuᵀ tests this:
// the naive update Σ + h(MΣ + ΣMᵀ) = uuᵀ + h(wuᵀ + uwᵀ) (w = Mu) restricted to span{u, w⊥} is
// [[·, h|w⊥|], [h|w⊥|, 0]] with determinant −h²|w⊥|² < 0, i.e. it has a negative eigenvalue of
// order h²|w⊥|²: the check below would fail for an integrator of Σ itself (shown at the end).
TEST(ReduceGaussian, FactorFormKeepsCovariancePsdAndRank) {
  const Index d = 3;
  const Vector u = (Vector(d) << 0.6, -0.3, 0.5).finished();
  const Matrix sigma0 = u * u.transpose();
  Model model =
      one_head(random_matrix(d, d, 41), random_matrix(d, d, 42), random_matrix(d, d, 43), 0.5);
  GaussianSolveOptions opt;
  opt.integrate.method = Method::euler;
  opt.integrate.dt = 0.05;
  const GaussianSolution sol = solve_gaussian(model, Vector::Zero(d), sigma0, grid(1.0, 10), opt);
  ASSERT_EQ(sol.frames.size(), 11u);
  for (const GaussianFrame& f : sol.frames) {
    EXPECT_EQ((f.cov - f.cov.transpose()).cwiseAbs().maxCoeff(), 0.0);
    const Eigen::SelfAdjointEigenSolver<Dense> e{Dense(f.cov), Eigen::EigenvaluesOnly};
    const double tr = f.cov.trace();
    // Rounding of L Lᵀ: |λ| ≤ d·eps·tr for the null directions.
    EXPECT_GE(e.eigenvalues()(0), -1e-14 * tr) << "t = " << f.t;
    EXPECT_LE(std::fabs(e.eigenvalues()(1)), 1e-14 * tr) << "t = " << f.t;
    EXPECT_EQ(normalized_spectrum(f.cov, 1e-10).rank, 1);
  }
  EXPECT_GT((sol.frames.back().cov - sigma0).norm(), 0.05);  // it moved
  // The discriminating power of the check: one naive Euler step on Σ leaves the PSD cone.
  const AffineField f = gaussian_field(model, Vector::Zero(d), sigma0);
  const Matrix naive = sigma0 + 0.05 * (f.M * sigma0 + sigma0 * f.M.transpose());
  const Eigen::SelfAdjointEigenSolver<Dense> en{Dense(naive), Eigen::EigenvaluesOnly};
  EXPECT_LT(en.eigenvalues()(0), -1e-6);
}

// ---------------------------------------------------------------------------------------------
// Monte-Carlo check of the affine velocity (docs G2–G4) against attention on N samples of
// N(m, Σ), computed densely here (double, max-shifted exponentials; Sinkhorn by plain matrix
// scaling of the stored kernel until both marginals hold to 1e-13).

/// Dense attention outputs Σ_h C_h Σ_j a^h_ij x_j at every sample x_i.
Matrix dense_attention(const Model& model, const Matrix& x) {
  const Index n = x.rows(), d = x.cols();
  Matrix out = Matrix::Zero(n, d);
  for (const Head& h : model.heads) {
    const Matrix c = h.W.size() == 0 ? h.V : Matrix(h.W * h.V);
    const Matrix q = x * h.Q.transpose(), k = x * h.K.transpose();
    Dense s(n, n);
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j)
        s(i, j) = model.kernel == KernelKind::l2 ? -model.beta * (q.row(i) - k.row(j)).squaredNorm()
                                                 : model.beta * q.row(i).dot(k.row(j));
    Dense a(n, n);
    if (model.kernel == KernelKind::sinkhorn) {
      const double shift = s.maxCoeff();
      Dense kern = (s.array() - shift).exp().matrix();
      Eigen::VectorXd f = Eigen::VectorXd::Ones(n), g = Eigen::VectorXd::Ones(n);
      for (int it = 0; it < 10000; ++it) {  // row sums 1, column sums 1 (uniform weights 1/n)
        f = (kern * g).cwiseInverse();
        g = (kern.transpose() * f).cwiseInverse();
        const Eigen::VectorXd rows = f.cwiseProduct(kern * g);
        if ((rows.array() - 1.0).abs().maxCoeff() < 1e-13) break;
      }
      a = f.asDiagonal() * kern * g.asDiagonal();
    } else {
      for (Index i = 0; i < n; ++i) {
        const double shift = s.row(i).maxCoeff();
        double z = 0.0;
        for (Index j = 0; j < n; ++j) z += (a(i, j) = std::exp(s(i, j) - shift));
        a.row(i) /= z;
      }
    }
    out += (a * Dense(x)) * c.transpose();
  }
  return out;
}

/// RMS over samples of |dense velocity − (b + M x)|, averaged over seeds.
double monte_carlo_error(const Model& model, const Vector& m, const Matrix& cov, Index n,
                         int seeds) {
  const AffineField f = gaussian_field(model, m, cov);
  double total = 0.0;
  for (int s = 0; s < seeds; ++s) {
    const Matrix x = sample_gaussian(n, m, cov, 1000 + static_cast<std::uint64_t>(s));
    const Matrix v = dense_attention(model, x);
    double sq = 0.0;
    for (Index i = 0; i < n; ++i)
      sq += (v.row(i).transpose() - (f.b + f.M * x.row(i).transpose())).squaredNorm();
    total += std::sqrt(sq / static_cast<double>(n));
  }
  return total / seeds;
}

// The error is a sum of centred sample averages, O(N^{-1/2}) (Sinkhorn: the empirical entropic
// potentials also converge at N^{-1/2}), so from N = 64 to 1024 it must shrink by √16 = 4. The
// averages over 32 (N = 64) and 8 (N = 1024) seeds fluctuate by ≲ 30 %; we require a ratio in
// [2.5, 6.4]. A wrong formula leaves an O(1) bias: the ratio then tends to 1 and the test fails.
TEST(ReduceGaussian, AffineVelocityMatchesMonteCarloForEveryKernel) {
  const Index d = 2;
  const Vector m = (Vector(d) << 0.4, -0.2).finished();
  const Matrix cov = (Matrix(d, d) << 0.5, 0.15, 0.15, 0.3).finished();
  std::vector<std::pair<std::string, Model>> cases;
  cases.emplace_back("softmax", one_head(random_matrix(d, d, 51), random_matrix(d, d, 52),
                                         random_matrix(d, d, 53), 0.8));
  Model multi =
      one_head(random_matrix(1, d, 54), random_matrix(1, d, 55), random_matrix(1, d, 56), 0.8);
  multi.heads[0].W = random_matrix(d, 1, 57);
  multi.heads.push_back(Head{random_matrix(d, d, 58), random_matrix(d, d, 59),
                             random_matrix(3, d, 60), random_matrix(d, 3, 61, 0.5)});
  cases.emplace_back("multi-head", multi);
  cases.emplace_back("l2", one_head(random_matrix(d, d, 62), random_matrix(d, d, 63),
                                    random_matrix(d, d, 64), 0.6, KernelKind::l2));
  cases.emplace_back("sinkhorn", one_head(random_matrix(d, d, 65), random_matrix(d, d, 66),
                                          random_matrix(d, d, 67), 0.8, KernelKind::sinkhorn));
  for (const auto& [name, model] : cases) {
    SCOPED_TRACE(name);
    const double coarse = monte_carlo_error(model, m, cov, 64, 32);
    const double fine = monte_carlo_error(model, m, cov, 1024, 8);
    EXPECT_GT(coarse / fine, 2.5) << coarse << " -> " << fine;
    EXPECT_LT(coarse / fine, 6.4) << coarse << " -> " << fine;
  }
}

// Particles of the engine (softmax in R^d) against the ODE: at time t the empirical measure of N
// particles is exactly the PDE solution started from the empirical measure, so its distance to
// the Gaussian solution is the initial sampling error (O(N^{-1/2})) propagated by a Lipschitz flow.
// Ratio bounds as above (N = 50 → 800, expected 4, 4 seeds).
TEST(ReduceGaussian, EngineParticlesConvergeToTheOdeAsNGrows) {
  const Index d = 2;
  const Vector m0 = (Vector(d) << 0.5, 0.0).finished();
  const Matrix cov0 = (Matrix(d, d) << 0.4, 0.1, 0.1, 0.25).finished();
  const Model model =
      one_head(random_matrix(d, d, 71), random_matrix(d, d, 72), random_matrix(d, d, 73), 0.7);
  GaussianSolveOptions gopt;
  gopt.integrate = tight();
  const std::vector<double> times{0.0, 0.5};
  const GaussianSolution sol = solve_gaussian(model, m0, cov0, times, gopt);
  ASSERT_EQ(sol.frames.size(), 2u);
  auto error = [&](Index n) {
    double total = 0.0;
    for (std::uint64_t seed = 0; seed < 4; ++seed) {
      const Measure meas = uniform_measure(sample_gaussian(n, m0, cov0, 77 + seed));
      Dynamics dyn(AttentionField(model, meas.weights, meas.positions));
      Matrix x = meas.x;
      IntegrateOptions opt;
      opt.method = Method::rk4;
      opt.dt = 0.1;  // time error O(dt⁴) ≈ 1e-4, far below the sampling error ≳ 0.05
      integrate(dyn, x, times, opt, [](std::size_t, double, const Matrix&) {});
      Vector mean;
      Matrix cov;
      empirical_moments(x, meas.weights, mean, cov);
      total += gaussian_w2(mean, cov, sol.frames.back().mean, sol.frames.back().cov);
    }
    return total / 4.0;
  };
  const double coarse = error(50), fine = error(800);
  EXPECT_GT(coarse / fine, 2.5) << coarse << " -> " << fine;
  EXPECT_LT(coarse / fine, 6.4) << coarse << " -> " << fine;
  EXPECT_GT((sol.frames.back().mean - m0).norm(), 0.1);  // the flow did something
}

// W2 between Gaussians (Bures): (1) equal covariances → |Δm|; (2) commuting covariances →
// Σ_k (√a_k − √b_k)²; (3) general: tr (S1^{1/2} S2 S1^{1/2})^{1/2} equals the nuclear norm of
// S1^{1/2} S2^{1/2} (its singular values are the square roots of the eigenvalues of that product),
// computed here by an SVD.
TEST(ReduceGaussian, BuresDistanceMatchesIndependentFormulas) {
  const Index d = 3;
  const Matrix s1 = random_spd(d, 81, 1.0), s2 = random_spd(d, 82, 0.5);
  const Vector m1 = Vector::Ones(d), m2 = (Vector(d) << 0.0, 2.0, -1.0).finished();
  EXPECT_NEAR(gaussian_w2(m1, s1, m2, s1), (m1 - m2).norm(), 1e-7);  // √ of a difference ~1e-15
  const Vector a = (Vector(d) << 1.0, 4.0, 0.25).finished(),
               b = (Vector(d) << 9.0, 1.0, 0.0).finished();
  const double diag = std::sqrt((a.cwiseSqrt() - b.cwiseSqrt()).squaredNorm());
  EXPECT_NEAR(gaussian_w2(Vector::Zero(d), a.asDiagonal().toDenseMatrix(), Vector::Zero(d),
                          b.asDiagonal().toDenseMatrix()),
              diag, 1e-12);
  const Dense r1 = Eigen::SelfAdjointEigenSolver<Dense>(Dense(s1)).operatorSqrt();
  const Dense r2 = Eigen::SelfAdjointEigenSolver<Dense>(Dense(s2)).operatorSqrt();
  const double nuclear = Eigen::JacobiSVD<Dense>(r1 * r2).singularValues().sum();
  const double expected =
      std::sqrt((m1 - m2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * nuclear);
  EXPECT_NEAR(gaussian_w2(m1, s1, m2, s2), expected, 1e-12 * expected);
}

TEST(ReduceGaussian, NormalizedSpectrumAndRank) {
  const Matrix s = (Vector(3) << 3.0, 1.0, 1e-9).finished().asDiagonal();
  const NormalizedSpectrum spec = normalized_spectrum(s, 1e-6);
  EXPECT_NEAR(spec.eigenvalues(0), 3.0 / (4.0 + 1e-9), 1e-15);
  EXPECT_NEAR(spec.eigenvalues(1), 1.0 / (4.0 + 1e-9), 1e-15);
  EXPECT_EQ(spec.rank, 2);
  EXPECT_EQ(normalized_spectrum(Matrix::Zero(2, 2), 1e-6).rank, 0);
}

void expect_error(const std::function<void()>& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), text);
  }
}

TEST(ReduceGaussian, RejectsBadInput) {
  expect_error(
      [] { validate_covariance((Matrix(2, 2) << 1, 0.5, 0.4, 1).finished(), 2, "init.cov"); },
      "init.cov: must be symmetric, got |S - S^T| = 0.09999999999999998 (a covariance is a "
      "symmetric "
      "positive semi-definite matrix)");
  expect_error([] { validate_covariance((Matrix(2, 2) << 1, 0, 0, -1).finished(), 2, "init.cov"); },
               "init.cov: must be positive semi-definite, smallest eigenvalue is -1");
  expect_error([] { validate_covariance(Matrix::Identity(3, 3), 2, "init.cov"); },
               "init.cov: must be 2x2 (d = 2), got 3x3");
  Model m = one_head(Matrix::Identity(2, 2), Matrix::Identity(2, 2), Matrix::Identity(2, 2), 1.0,
                     KernelKind::usa);
  expect_error([&] { validate_gaussian_model(m); },
               "model.kernel: 'usa' attention does not preserve Gaussians ([C]); allowed: softmax, "
               "l2, sinkhorn");
  m.kernel = KernelKind::softmax;
  m.geometry = Geometry::sphere;
  expect_error(
      [&] { validate_gaussian_model(m); },
      "model.geometry: Gaussian solutions exist in R^d only ([C]); set geometry = \"euclidean\"");
  m.geometry = Geometry::euclidean;
  m.normalization = Normalization::post_ln;
  expect_error(
      [&] { validate_gaussian_model(m); },
      "model.normalization: Gaussian solutions are those of the Transformer PDE in R^d without "
      "normalisation ([C]); set normalization = \"none\"");
  m.normalization = Normalization::none;
  m.causal = true;
  expect_error(
      [&] { validate_gaussian_model(m); },
      "model.causal: masked attention does not preserve Gaussians ([C]); use causal = false");
}

}  // namespace
