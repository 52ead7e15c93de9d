// Wasserstein distances (SPEC §4): exact W2 against brute force over permutations and the 1-D
// quantile formula, Sinkhorn divergence → W2² as ε → 0 within its derived bound, sliced W2 in
// closed-form cases, the Bures formula against an independent 2×2 formula, conditional W2.
#include <gtest/gtest.h>

#include <Eigen/LU>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "analysis_test_support.hpp"
#include "attnflow/analysis/stability.hpp"
#include "attnflow/analysis/wasserstein.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/init.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::analysis;
using analysistest::gaussian_matrix;
using analysistest::kU;
using analysistest::random_weights;

double max_cost(const Matrix& x, const Matrix& y) {
  double c = 0.0;
  for (Index i = 0; i < x.rows(); ++i)
    for (Index j = 0; j < y.rows(); ++j) c = std::max(c, (x.row(i) - y.row(j)).squaredNorm());
  return c;
}

/// min over permutations σ of (1/N) Σ |x_i − y_σ(i)|²: W2² for uniform masses (Birkhoff).
double brute_force_w2(const Matrix& x, const Matrix& y) {
  std::vector<Index> p(static_cast<std::size_t>(x.rows()));
  std::iota(p.begin(), p.end(), Index{0});
  double best = std::numeric_limits<double>::infinity();
  do {
    long double s = 0.0L;
    for (Index i = 0; i < x.rows(); ++i)
      s += (x.row(i) - y.row(p[static_cast<std::size_t>(i)])).squaredNorm();
    best = std::min(best, static_cast<double>(s / x.rows()));
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

/// 1-D W2² written independently: ∫_0^1 |F⁻¹(u) − G⁻¹(u)|² du over the merged breakpoints of the
/// two cumulative mass functions (long double).
double quantile_w2(std::vector<double> x, std::vector<double> a, std::vector<double> y,
                   std::vector<double> b) {
  auto sort_by_value = [](std::vector<double>& v, std::vector<double>& w) {
    std::vector<std::size_t> o(v.size());
    std::iota(o.begin(), o.end(), std::size_t{0});
    std::sort(o.begin(), o.end(), [&](std::size_t i, std::size_t j) { return v[i] < v[j]; });
    std::vector<double> v2, w2;
    for (std::size_t i : o) {
      v2.push_back(v[i]);
      w2.push_back(w[i]);
    }
    v = v2;
    w = w2;
  };
  sort_by_value(x, a);
  sort_by_value(y, b);
  const long double ta = std::accumulate(a.begin(), a.end(), 0.0L),
                    tb = std::accumulate(b.begin(), b.end(), 0.0L);
  std::vector<long double> ca{0}, cb{0};
  for (double v : a) ca.push_back(ca.back() + v / ta);
  for (double v : b) cb.push_back(cb.back() + v / tb);
  std::vector<long double> cuts(ca.begin(), ca.end());
  cuts.insert(cuts.end(), cb.begin(), cb.end());
  std::sort(cuts.begin(), cuts.end());
  long double s = 0.0L;
  for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
    const long double lo = cuts[k], hi = std::min(cuts[k + 1], 1.0L);
    if (hi <= lo) continue;
    const long double mid = 0.5L * (lo + hi);
    const auto ia = std::min<std::size_t>(
        std::upper_bound(ca.begin(), ca.end(), mid) - ca.begin() - 1, x.size() - 1);
    const auto ib = std::min<std::size_t>(
        std::upper_bound(cb.begin(), cb.end(), mid) - cb.begin() - 1, y.size() - 1);
    const long double diff = static_cast<long double>(x[ia]) - y[ib];
    s += (hi - lo) * diff * diff;
  }
  return static_cast<double>(s);
}

// Exact W2 = the best permutation (uniform masses, N = M ≤ 7). Error of the solver (header):
// cost rounding ≤ C_max (N+M+1) 2⁻⁵⁸ plus the summation of N·M terms in double ≤ 2NM u C_max.
TEST(W2Exact, MatchesBruteForceOverPermutations) {
  Rng rng(11);
  for (Index n = 1; n <= 7; ++n) {
    SCOPED_TRACE(n);
    const Matrix x = gaussian_matrix(n, 3, rng), y = gaussian_matrix(n, 3, rng);
    const std::vector<double> w(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
    const double c = max_cost(x, y);
    const double tol = c * (static_cast<double>(2 * n + 1) * std::ldexp(1.0, -58) +
                            2.0 * static_cast<double>(n * n) * kU);
    EXPECT_NEAR(w2_squared_exact(x, w, y, w), brute_force_w2(x, y), tol);
  }
}

// General masses and N ≠ M on the line, where the monotone (quantile) coupling is optimal.
// Additional mass-rounding error (header): ≤ C_max (N+M) 2⁻⁵⁰.
TEST(W2Exact, MatchesQuantileFormulaInOneDimension) {
  Rng rng(12);
  for (auto [n, m] : {std::pair<Index, Index>{5, 9}, {13, 4}, {30, 30}}) {
    Matrix x = gaussian_matrix(n, 1, rng), y = gaussian_matrix(m, 1, rng, 2.0);
    std::vector<double> a = random_weights(n, rng), b = random_weights(m, rng);
    const std::vector<double> xv(x.data(), x.data() + n), yv(y.data(), y.data() + m);
    const double expected = quantile_w2(xv, a, yv, b);
    const double c = max_cost(x, y);
    const double tol = c * (static_cast<double>(n + m + 1) * std::ldexp(1.0, -58) +
                            static_cast<double>(n + m) * std::ldexp(1.0, -50) +
                            2.0 * static_cast<double>(n * m) * kU);
    EXPECT_NEAR(w2_squared_exact(x, a, y, b), expected, tol);
    EXPECT_NEAR(w2_squared_1d(xv, a, yv, b), expected, 4.0 * static_cast<double>(n + m) * kU * c);
  }
}

// To a single point the only plan moves everything: W2²(μ, δ_y) = Σ a_i |x_i − y|².
TEST(W2Exact, DiracClosedFormAndSymmetry) {
  Rng rng(13);
  const Matrix x = gaussian_matrix(9, 4, rng), y = gaussian_matrix(1, 4, rng);
  const std::vector<double> a = random_weights(9, rng);
  double expected = 0.0;
  for (Index i = 0; i < 9; ++i)
    expected += a[static_cast<std::size_t>(i)] * (x.row(i) - y.row(0)).squaredNorm();
  const double c = max_cost(x, y);
  EXPECT_NEAR(w2_squared_exact(x, a, y, {1.0}), expected, c * 1e-13);
  const Matrix z = gaussian_matrix(6, 4, rng);
  const std::vector<double> b = random_weights(6, rng);
  EXPECT_NEAR(w2_squared_exact(x, a, z, b), w2_squared_exact(z, b, x, a), max_cost(x, z) * 1e-13);
  EXPECT_EQ(w2_squared_exact(x, a, x, a), 0.0);
}

// |S_ε − W2²| ≤ ε log N + (iteration error): W2² ≤ OT_ε(a,b) ≤ W2² + ε KL(π*|a⊗b) = W2² + ε log N
// for a permutation plan, and 0 ≤ OT_ε(a,a) ≤ ε KL(diag|a⊗a) = ε log N. The iterations stop at
// marginal error tol = 1e-10, which moves the dual values by ≤ C_max·tol each (three problems).
TEST(W2Sinkhorn, DivergenceTendsToExactW2) {
  Rng rng(14);
  const Index n = 7;
  const Matrix x = gaussian_matrix(n, 2, rng),
               y = gaussian_matrix(n, 2, rng) + Matrix::Constant(n, 2, 0.7);
  const std::vector<double> w(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
  const double exact = brute_force_w2(x, y);
  const double c = max_cost(x, y);
  for (double eps : {1.0, 1e-1, 1e-2, 1e-3}) {
    SCOPED_TRACE(eps);
    SinkhornOptions o;
    o.epsilon = eps;
    o.tol = 1e-10;
    const SinkhornResult r = sinkhorn_divergence(x, w, y, w, o);
    EXPECT_LE(r.marginal_error, o.tol);
    const double error = std::fabs(r.divergence - exact);
    EXPECT_LE(error, eps * std::log(static_cast<double>(n)) + 3.0 * c * o.tol);
    EXPECT_GE(r.ot_ab, exact - 3.0 * c * o.tol);  // OT_ε ≥ OT_0
  }
}

// S_ε(μ, μ) = 0 for the same measure listed in another order (so that the OT_ε(a, b) solve and
// the symmetric OT_ε(a, a) solve do different arithmetic): both reach the same value within the
// dual gaps of tol = 1e-11 (≤ C_max·tol each).
TEST(W2Sinkhorn, DivergenceOfAMeasureWithItselfVanishes) {
  Rng rng(15);
  const Matrix x = gaussian_matrix(40, 3, rng);
  const std::vector<double> a = random_weights(40, rng);
  const std::vector<Index> p = analysistest::random_permutation(40, rng);
  Matrix y(40, 3);
  std::vector<double> b(40);
  for (Index i = 0; i < 40; ++i) {
    y.row(i) = x.row(p[static_cast<std::size_t>(i)]);
    b[static_cast<std::size_t>(i)] = a[static_cast<std::size_t>(p[static_cast<std::size_t>(i)])];
  }
  SinkhornOptions o;
  o.epsilon = 0.05;
  o.tol = 1e-11;
  const SinkhornResult r = sinkhorn_divergence(x, a, y, b, o);
  EXPECT_LE(r.marginal_error, o.tol);
  EXPECT_NEAR(r.divergence, 0.0, 3.0 * max_cost(x, x) * o.tol);
}

// In one dimension every direction is ±1 and W2 is reflection invariant: sliced = exact 1-D.
TEST(W2Sliced, EqualsExactInOneDimension) {
  Rng rng(16);
  const Matrix x = gaussian_matrix(20, 1, rng), y = gaussian_matrix(15, 1, rng);
  const std::vector<double> a = random_weights(20, rng), b = random_weights(15, rng);
  const std::vector<double> xv(x.data(), x.data() + 20), yv(y.data(), y.data() + 15);
  EXPECT_NEAR(sliced_w2_squared(x, a, y, b, 7, 3), quantile_w2(xv, a, yv, b), 1e-13);
}

// Two Diracs at distance 1: SW2² = E_θ ⟨θ, u⟩² = 1/d for θ uniform on S^{d−1}. Monte Carlo with
// L = 20000 directions in d = 3: Var⟨θ,u⟩² = 3/(d(d+2)) − 1/d² = 4/45, standard error 0.0021;
// tolerance 5 standard errors (the seed is fixed, so this is deterministic).
TEST(W2Sliced, TwoDiracsGiveOneOverD) {
  Matrix p(1, 3), q(1, 3);
  p << 0.3, -0.2, 0.5;
  q = p;
  q(0, 1) += 1.0;
  const double sw = sliced_w2_squared(p, {1.0}, q, {1.0}, 20000, 42);
  EXPECT_NEAR(sw, 1.0 / 3.0, 5.0 * std::sqrt(4.0 / 45.0 / 20000.0));
  // Same seed, same directions, same value; another seed another value.
  EXPECT_EQ(sw, sliced_w2_squared(p, {1.0}, q, {1.0}, 20000, 42));
  EXPECT_NE(sw, sliced_w2_squared(p, {1.0}, q, {1.0}, 20000, 43));
}

// Bures: diagonal covariances give Σ(√a_i − √b_i)²; in d = 2 tr √M = √(tr M + 2√det M) for a PSD
// 2×2 M, and tr(S1^½ S2 S1^½) = tr(S1 S2), det = det S1 det S2: an independent closed form.
TEST(W2Gaussian, BuresClosedForms) {
  Vector m1(3), m2(3);
  m1 << 1, 2, 3;
  m2 << 0, 2, 5;
  Matrix s1 = Matrix::Zero(3, 3), s2 = Matrix::Zero(3, 3);
  s1.diagonal() << 4, 1, 0.25;
  s2.diagonal() << 1, 9, 0.25;
  EXPECT_NEAR(w2_squared_gaussian(m1, s1, m2, s2),
              1 + 4 + (2 - 1) * (2 - 1) + (1 - 3) * (1 - 3) + 0, 1e-13);
  Matrix a(2, 2), b(2, 2);
  a << 2.0, 0.7, 0.7, 1.0;
  b << 0.5, -0.3, -0.3, 3.0;
  const Vector z = Vector::Zero(2);
  const double cross =
      std::sqrt((a * b).trace() + 2.0 * std::sqrt(a.determinant() * b.determinant()));
  EXPECT_NEAR(w2_squared_gaussian(z, a, z, b), a.trace() + b.trace() - 2.0 * cross, 1e-13);
  EXPECT_NEAR(w2_squared_gaussian(z, a, z, a), 0.0, 1e-13);
}

// The moment-matched Gaussian method on samples equals Bures on their weighted moments, computed
// here directly.
TEST(W2Gaussian, MomentsOfWeightedCloud) {
  Matrix x(3, 2);
  x << 0, 0, 2, 0, 0, 4;
  const GaussianMoments g = gaussian_moments(x, {0.5, 0.25, 0.25});
  EXPECT_NEAR(g.mean(0), 0.5, 1e-15);
  EXPECT_NEAR(g.mean(1), 1.0, 1e-15);
  // cov_00 = Σ a (x−0.5)² = 0.5·0.25 + 0.25·2.25 + 0.25·0.25 = 0.75; cov_11 = 0.5 + 0.25 + 0.25·9 =
  // 3; cov_01 = 0.5·(−0.5)(−1) + 0.25·(1.5)(−1) + 0.25·(−0.5)(3) = 0.25 − 0.375 − 0.375 = −0.5.
  EXPECT_NEAR(g.cov(0, 0), 0.75, 1e-15);
  EXPECT_NEAR(g.cov(1, 1), 3.0, 1e-15);
  EXPECT_NEAR(g.cov(0, 1), -0.5, 1e-15);
}

// Conditional W2: one token per position moves nowhere else, Σ a_i |x_i − y_i|²; two tokens per
// position are matched within their position only (brute force per group).
TEST(W2Conditional, MovesTokensWithinPositions) {
  Rng rng(17);
  const Matrix x = gaussian_matrix(4, 2, rng), y = gaussian_matrix(4, 2, rng);
  const std::vector<double> w{0.1, 0.2, 0.3, 0.4};
  const std::vector<double> pos{0, 1, 2, 3};
  double expected = 0.0;
  for (Index i = 0; i < 4; ++i)
    expected += w[static_cast<std::size_t>(i)] * (x.row(i) - y.row(i)).squaredNorm();
  EXPECT_NEAR(w2_squared_conditional(x, w, pos, y, w, pos), expected, 1e-14);
  const std::vector<double> uniform(4, 0.25), paired{0, 0, 1, 1};
  const Matrix x0 = x.topRows(2), y0 = y.topRows(2), x1 = x.bottomRows(2), y1 = y.bottomRows(2);
  const double grouped = 0.5 * brute_force_w2(x0, y0) + 0.5 * brute_force_w2(x1, y1);
  EXPECT_NEAR(w2_squared_conditional(x, uniform, paired, y, uniform, paired), grouped, 1e-13);
  // Conditioning can only cost more than the unconstrained optimum.
  EXPECT_GE(grouped + 1e-13, w2_squared_exact(x, uniform, y, uniform));
}

// [M] stability: for a perturbation far smaller than the distances between tokens the optimal
// coupling of the two flows is the identity (token i with its perturbed copy), so W2(t) equals
// (Σ_i w_i |x_i(t) − y_i(t)|²)^{1/2} computed here from two independent integrations; and W2/ε
// tends to a limit as ε → 0 (linear response): the ratios at ε = 1e-6 and 1e-5 agree to O(ε).
TEST(W2Stability, FlowsOfPerturbedTokensAndWeights) {
  const Index n = 12, d = 3;
  const Measure mu = uniform_measure(sample_uniform_sphere(n, d, 5));
  const Matrix id = Matrix::Identity(d, d);
  const Model model = analysistest::one_head(id, id, id, 3.0, KernelKind::softmax);
  const std::vector<double> times{0.0, 0.5, 1.0, 2.0};
  IntegrateOptions o;
  o.method = Method::rk4;
  o.dt = 0.01;
  for (bool tokens : {true, false}) {
    SCOPED_TRACE(tokens);
    std::vector<double> ratio_small, ratio_large;
    for (double eps : {1e-6, 1e-5}) {
      const Measure nu = tokens ? perturb_tokens(mu, eps, 5, true) : mu;
      const Model mb = tokens ? model : perturb_weights(model, eps, 5);
      if (tokens) {
        EXPECT_GT((nu.x - mu.x).norm(), 0.1 * eps);  // not the init noise again
      }
      const std::vector<double> w2 = w2_between_flows(model, mu, mb, nu, times, o, W2Options{});
      Matrix x = mu.x, y = nu.x;
      Dynamics da(AttentionField(model, mu.weights, mu.positions)),
          db(AttentionField(mb, nu.weights, nu.positions));
      std::vector<Matrix> fx(times.size()), fy(times.size());
      integrate(da, x, times, o, [&](std::size_t k, double, const Matrix& s) { fx[k] = s; });
      integrate(db, y, times, o, [&](std::size_t k, double, const Matrix& s) { fy[k] = s; });
      for (std::size_t k = 0; k < times.size(); ++k) {
        const double identity = std::sqrt((fx[k] - fy[k]).squaredNorm() / static_cast<double>(n));
        // Costs ~ε² are summed next to nothing larger: relative rounding ≤ 4 N u, plus the cost
        // quantisation C_max (2N+1) 2⁻⁵⁸ on W2² ~ ε², i.e. ~1e-5 relative at ε = 1e-6.
        EXPECT_NEAR(w2[k], identity, 1e-4 * identity + 1e-12);
      }
      (eps < 3e-6 ? ratio_small : ratio_large) = w2;
      for (double& v : (eps < 3e-6 ? ratio_small : ratio_large)) v /= eps;
    }
    for (std::size_t k = 1; k < times.size(); ++k)
      EXPECT_NEAR(ratio_small[k], ratio_large[k], 0.01 * ratio_small[k]);
  }
}

TEST(W2Errors, MessagesNameTheProblem) {
  const Matrix x = Matrix::Zero(2, 2), y = Matrix::Zero(2, 3);
  const std::vector<double> w{0.5, 0.5};
  try {
    w2_squared_exact(x, w, y, w);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "w2: the two measures live in different dimensions: d = 2 and d = 3");
  }
  try {
    w2_squared_conditional(x, w, {0, 1}, x, w, {0, 2});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "w2: conditional W2 needs the same sequence positions in both runs; position 1 is in "
        "one run only");
  }
  try {
    w2_method_from_name("emd", "--method");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "--method: unknown method 'emd'; allowed: exact, sinkhorn, sliced, gaussian, conditional");
  }
  const Matrix big = Matrix::Zero(2049, 1), big2 = Matrix::Zero(2049, 1);
  const std::vector<double> wb(2049, 1.0 / 2049);
  EXPECT_THROW(w2_squared_exact(big, wb, big2, wb), InputError);
}

}  // namespace
