// Spectra (SPEC §4): second-moment / covariance eigenvalues in closed form for tokens on
// orthonormal directions, the attention matrix of the engine against a dense softmax written
// here, rank and leaders of a Boolean attention matrix.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "analysis_test_support.hpp"
#include "attnflow/analysis/spectra.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::analysis;

// Tokens on e1 (mass m1) and e2 (mass m2 = 1 − m1) in R⁴: M = diag(m1, m2, 0, 0);
// Σ = M − m mᵀ = m1 m2 [[1, −1], [−1, 1]] ⊕ 0 with eigenvalues 2 m1 m2 and 0.
TEST(Spectra, TwoOrthogonalClustersInClosedForm) {
  Matrix x(5, 4);
  x << 1, 0, 0, 0,  //
      0, 1, 0, 0,   //
      1, 0, 0, 0,   //
      0, 1, 0, 0,   //
      1, 0, 0, 0;
  const std::vector<double> w{0.1, 0.2, 0.3, 0.15, 0.25};
  const double m1 = 0.65, m2 = 0.35;
  const GramSpectra g = gram_spectra(Measure{x, w, analysistest::index_positions(5)});
  ASSERT_EQ(g.second_moment.eigenvalues.size(), 4u);
  EXPECT_NEAR(g.second_moment.eigenvalues[0], m1, 1e-15);
  EXPECT_NEAR(g.second_moment.eigenvalues[1], m2, 1e-15);
  EXPECT_NEAR(g.second_moment.eigenvalues[2], 0.0, 1e-15);
  EXPECT_EQ(g.second_moment.numerical_rank, 2);
  EXPECT_NEAR(g.second_moment.anisotropy, m1, 1e-15);
  EXPECT_NEAR(g.second_moment.effective_rank, std::exp(-(m1 * std::log(m1) + m2 * std::log(m2))),
              1e-14);
  EXPECT_NEAR(g.second_moment.stable_rank, 1.0 / m1, 1e-14);
  EXPECT_NEAR(g.covariance.eigenvalues[0], 2 * m1 * m2, 1e-15);
  EXPECT_EQ(g.covariance.numerical_rank, 1);
}

// The cross-polytope ±e_c in R^d is isotropic: M = I/d, anisotropy 1/d, effective rank d.
TEST(Spectra, IsotropicCrossPolytope) {
  const Index d = 5;
  Matrix x(2 * d, d);
  x.setZero();
  for (Index c = 0; c < d; ++c) {
    x(2 * c, c) = 1.0;
    x(2 * c + 1, c) = -1.0;
  }
  const GramSpectra g = gram_spectra(
      Measure{x, analysistest::uniform_weights(2 * d), analysistest::index_positions(2 * d)});
  EXPECT_NEAR(g.second_moment.anisotropy, 1.0 / d, 1e-15);
  EXPECT_NEAR(g.second_moment.effective_rank, static_cast<double>(d), 1e-13);
  EXPECT_EQ(g.covariance.numerical_rank, d);
}

// N = d = 6 random tokens: A X = Y with Y_i = Σ_j a_ij x_j the dense softmax (masses, causal mask
// over shuffled positions) written here; X is invertible so this pins every a_ij. Rounding: the
// engine's relative error ≤ 300u at scores ≤ 4 and the dense side is long double: 1e-13.
TEST(Spectra, AttentionMatrixMatchesDenseSoftmax) {
  Rng rng(51);
  const Index n = 6;
  const Matrix x = analysistest::gaussian_matrix(n, n, rng, 0.6);
  const Matrix q = analysistest::gaussian_matrix(3, n, rng, 0.5),
               k = analysistest::gaussian_matrix(3, n, rng, 0.5);
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal);
    Model model = analysistest::one_head(q, k, Matrix::Identity(n, n), 1.7, KernelKind::softmax,
                                         Geometry::euclidean);
    model.causal = causal;
    const std::vector<double> w = analysistest::random_weights(n, rng);
    const std::vector<double> pos{3, 0, 5, 1, 2, 4};
    const Matrix a = attention_matrix(model, Measure{x, w, pos});
    for (Index i = 0; i < n; ++i) {
      long double z = 0.0L;
      std::vector<long double> p(static_cast<std::size_t>(n), 0.0L);
      for (Index j = 0; j < n; ++j) {
        if (causal && pos[static_cast<std::size_t>(j)] > pos[static_cast<std::size_t>(i)]) continue;
        const long double s = 1.7L * static_cast<long double>(
                                         (q * x.row(i).transpose()).dot(k * x.row(j).transpose()));
        p[static_cast<std::size_t>(j)] = w[static_cast<std::size_t>(j)] * expl(s);
        z += p[static_cast<std::size_t>(j)];
      }
      for (Index j = 0; j < n; ++j) {
        const double expected =
            z > 0 ? static_cast<double>(p[static_cast<std::size_t>(j)] / z) : 0.0;
        EXPECT_NEAR(a(i, j), expected, 1e-13);
      }
    }
  }
}

// A Boolean attention matrix whose rows point at tokens 0 and 3: rank 2, leaders {0, 3}.
TEST(Spectra, RankAndLeadersOfABooleanMatrix) {
  Matrix a = Matrix::Zero(5, 5);
  for (Index i : {0, 1, 2}) a(i, 0) = 1.0;
  for (Index i : {3, 4}) a(i, 3) = 1.0;
  a(1, 0) = 0.999;
  a(1, 2) = 0.001;  // a nearly Boolean row: still rank 2 at tolerance 1e-2
  const AttentionSpectrum s = attention_spectrum(a, 1e-2, 0.5);
  EXPECT_EQ(s.numerical_rank, 2);
  EXPECT_EQ(s.leaders, (std::vector<Index>{0, 3}));
  EXPECT_NEAR(s.singular_values[0], std::sqrt(3.0), 2e-3);
  EXPECT_EQ(attention_spectrum(a, 1e-6, 0.5).numerical_rank, 3);
}

}  // namespace
