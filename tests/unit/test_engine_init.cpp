// Initial configurations: uniform sphere samples, Gaussian samples, equiangular points, and their
// errors (messages pinned).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "attnflow/error.hpp"
#include "attnflow/init.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

template <class F>
void expect_input_error(F&& f, const std::string& key, const std::string& message) {
  try {
    f();
    ADD_FAILURE() << "no InputError; expected: " << message;
  } catch (const InputError& e) {
    EXPECT_EQ(e.key(), key);
    EXPECT_EQ(std::string(e.what()), message);
  }
}

// |x/|x|| − 1: the norm (d squares, d − 1 sums, one sqrt) and d divisions: ≤ (d + 4) u.
// Moments of the uniform law on S^{d−1}: E x = 0, E x_a² = 1/d, E x_a x_b = 0, with
// Var x_a = 1/d, Var x_a² = 3/(d(d+2)) − 1/d², Var x_a x_b = 1/(d(d+2)); sample averages of N
// points lie within 5 standard errors (a fixed seed: a failure means a wrong law, not bad luck).
TEST(InitSphere, UnitNormsUniformMomentsAndSeeds) {
  const Index n = 20000;
  for (Index d : {2, 3, 7}) {
    SCOPED_TRACE(d);
    const Matrix x = sample_uniform_sphere(n, d, 42);
    const double dd = static_cast<double>(d), nn = static_cast<double>(n);
    for (Index i = 0; i < n; ++i) ASSERT_NEAR(x.row(i).norm(), 1.0, (dd + 4.0) * kU) << i;
    const Eigen::RowVectorXd mean = x.colwise().mean();
    const Matrix second = x.transpose() * x / nn;
    for (Index a = 0; a < d; ++a) {
      EXPECT_LE(std::fabs(mean(a)), 5.0 * std::sqrt(1.0 / (dd * nn)));
      EXPECT_LE(std::fabs(second(a, a) - 1.0 / dd),
                5.0 * std::sqrt((3.0 / (dd * (dd + 2.0)) - 1.0 / (dd * dd)) / nn));
      for (Index b = a + 1; b < d; ++b)
        EXPECT_LE(std::fabs(second(a, b)), 5.0 * std::sqrt(1.0 / (dd * (dd + 2.0) * nn)));
    }
  }
  const Matrix a = sample_uniform_sphere(100, 3, 7);
  const Matrix b = sample_uniform_sphere(100, 3, 7);
  const Matrix c = sample_uniform_sphere(100, 3, 8);
  EXPECT_TRUE(a == b);  // bitwise
  EXPECT_GT((a - c).cwiseAbs().minCoeff(), 0.0);
}

// N(m, Σ) with a non-diagonal Σ: the sample mean has standard error √(Σ_cc/N); the sample
// covariance about the true mean has Var Σ̂_ab = (Σ_aa Σ_bb + Σ_ab²)/N (Isserlis). 5σ with N =
// 20000.
TEST(InitGaussian, SampleMeanAndCovarianceWithinSamplingError) {
  const Index n = 20000, d = 3;
  Vector mean(d);
  mean << 1.0, -2.0, 0.5;
  Matrix a(d, d);
  a << 1.0, 0.0, 0.0, 0.8, 0.6, 0.0, -0.5, 0.3, 0.4;
  const Matrix cov = a * a.transpose();
  const Matrix x = sample_gaussian(n, mean, cov, 123);
  const double nn = static_cast<double>(n);
  const Eigen::RowVectorXd m = x.colwise().mean();
  Matrix centred = x;
  for (Index i = 0; i < n; ++i) centred.row(i) -= mean.transpose();
  const Matrix s = centred.transpose() * centred / nn;
  for (Index p = 0; p < d; ++p) {
    EXPECT_LE(std::fabs(m(p) - mean(p)), 5.0 * std::sqrt(cov(p, p) / nn)) << p;
    for (Index q = 0; q < d; ++q)
      EXPECT_LE(std::fabs(s(p, q) - cov(p, q)),
                5.0 * std::sqrt((cov(p, p) * cov(q, q) + cov(p, q) * cov(p, q)) / nn))
          << p << "," << q;
  }
  EXPECT_TRUE(x == sample_gaussian(n, mean, cov, 123));
  EXPECT_FALSE(x == sample_gaussian(n, mean, cov, 124));
}

// A singular covariance Σ = v vᵀ: every sample is mean + t v. The eigensolver is backward stable,
// so the zero eigenvalues come out as |λ| ≤ c·d·u‖Σ‖ and their √λ₊ ≤ √(c d u ‖Σ‖) ≈ 3·10⁻⁸‖v‖
// (c ≤ 10): the off-line component is ≤ that times |z| ≤ 6 (|z| of 3 normals over 2000 draws),
// i.e. ≤ 2·10⁻⁷‖v‖. The variance along v is ‖v‖² within 5σ, Var = 2‖v‖⁴/N.
TEST(InitGaussian, SingularCovarianceStaysOnItsRange) {
  const Index n = 2000, d = 3;
  Vector v(d);
  v << 1.0, 2.0, -2.0;  // ‖v‖ = 3
  const Matrix cov = v * v.transpose();
  const Vector mean = Vector::Zero(d);
  const Matrix x = sample_gaussian(n, mean, cov, 5);
  const Vector unit = v / v.norm();
  double var = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double t = x.row(i).dot(unit);
    EXPECT_LE((x.row(i).transpose() - t * unit).norm(), 2e-7 * v.norm()) << i;
    var += t * t;
  }
  var /= static_cast<double>(n);
  EXPECT_NEAR(var, 9.0, 5.0 * std::sqrt(2.0 * 81.0 / static_cast<double>(n)));
}

TEST(InitGaussian, RejectsBadCovariances) {
  Vector mean = Vector::Zero(2);
  Matrix not_symmetric(2, 2);
  not_symmetric << 1.0, 0.5, 0.0, 1.0;
  expect_input_error([&] { sample_gaussian(4, mean, not_symmetric, 1); }, "init.cov",
                     "init.cov: must be symmetric");
  Matrix indefinite(2, 2);
  indefinite << 1.0, 0.0, 0.0, -1.0;
  expect_input_error([&] { sample_gaussian(4, mean, indefinite, 1); }, "init.cov",
                     "init.cov: must be positive semi-definite, smallest eigenvalue is -1");
  expect_input_error([&] { sample_gaussian(4, mean, Matrix::Identity(3, 3), 1); }, "init.cov",
                     "init.cov: must be 2x2 (the length of init.mean), got 3x3");
  Matrix inf = Matrix::Identity(2, 2);
  inf(0, 1) = std::numeric_limits<double>::infinity();
  expect_input_error([&] { sample_gaussian(4, mean, inf, 1); }, "init.cov",
                     "init.cov: all entries must be finite numbers");
}

// Gram matrix (1 − ρ) I + ρ 11ᵀ. Each x_i is built from a = √(1−ρ), b and then renormalised, so
// ⟨x_i, x_j⟩ carries a few roundings of O(1) quantities (≤ (n + 8) u ≪ 10⁻¹⁴ for n ≤ 6).
TEST(InitEquiangular, GramMatrixIsExact) {
  struct Case {
    Index n, d;
    double rho;
  };
  for (const Case c : {Case{2, 2, 0.3}, Case{3, 3, -0.5}, Case{4, 4, 0.0}, Case{5, 8, 0.9},
                       Case{6, 6, -0.2}, Case{5, 5, 1.0}, Case{4, 6, -1.0 / 3.0}}) {
    SCOPED_TRACE(std::to_string(c.n) + " " + std::to_string(c.d) + " " + std::to_string(c.rho));
    const Matrix x = equiangular_points(c.n, c.d, c.rho);
    ASSERT_EQ(x.rows(), c.n);
    ASSERT_EQ(x.cols(), c.d);
    const Matrix gram = x * x.transpose();
    const Matrix expected =
        (1.0 - c.rho) * Matrix::Identity(c.n, c.n) + c.rho * Matrix::Ones(c.n, c.n);
    EXPECT_LE((gram - expected).cwiseAbs().maxCoeff(), 1e-14);
  }
}

TEST(InitEquiangular, RejectsImpossibleConfigurations) {
  expect_input_error([] { equiangular_points(1, 3, 0.5); }, "init.n",
                     "init.n: equiangular tokens need n >= 2, got 1");
  expect_input_error([] { equiangular_points(4, 3, 0.5); }, "init.d",
                     "init.d: equiangular tokens need d >= n (n = 4), got d = 3");
  expect_input_error([] { equiangular_points(3, 3, 1.5); }, "init.rho",
                     "init.rho: must lie in [-1/(n-1), 1] = [-0.5, 1], got 1.5");
  expect_input_error([] { equiangular_points(3, 3, -0.6); }, "init.rho",
                     "init.rho: must lie in [-1/(n-1), 1] = [-0.5, 1], got -0.6");
  expect_input_error([] { equiangular_points(3, 3, std::nan("")); }, "init.rho",
                     "init.rho: must lie in [-1/(n-1), 1] = [-0.5, 1], got nan");
}

}  // namespace
