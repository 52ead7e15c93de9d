// Time-dependent weights (schedule.hpp): the OU path's statistics against the process's closed
// forms, and the deterministic schedules against their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "attnflow/schedule.hpp"

namespace {

using attnflow::Matrix;
using attnflow::MatrixSchedule;

TEST(OrnsteinUhlenbeckSchedule, StationaryMeanVarianceAndAutocorrelation) {
  // dM = −θ(M − m̄)dt + σ dB, started at the mean: stationary law N(m̄, σ²/(2θ)), autocorrelation
  // e^{−θτ}. With θ = 1 over T = 20000 the effective number of independent samples is about
  // T/(2/θ) = 10⁴, so the sample mean has standard deviation √(σ²/(2θ) / 10⁴) ≈ 0.0071 and the
  // sample variance (of a Gaussian) √(2/10⁴)·0.5 ≈ 0.0071; 5 of these are the tolerances.
  const double theta = 1.0, sigma = 1.0, dt = 0.05, t_end = 20000.0, mean = 0.3;
  const MatrixSchedule ou =
      MatrixSchedule::ornstein_uhlenbeck(Matrix::Constant(1, 1, mean), Matrix::Constant(1, 1, mean),
                                         theta, sigma, dt, t_end, 7, false);
  const auto n = static_cast<int>(t_end / dt);
  double s1 = 0.0, s2 = 0.0;
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) {
    v[static_cast<std::size_t>(k)] = ou.at(k * dt)(0, 0);
    s1 += v[static_cast<std::size_t>(k)];
  }
  const double m = s1 / n;
  for (double x : v) s2 += (x - m) * (x - m);
  const double var = s2 / (n - 1);
  EXPECT_NEAR(m, mean, 5 * 0.0071);
  EXPECT_NEAR(var, sigma * sigma / (2 * theta), 5 * 0.0071);
  // Autocorrelation at lag τ = 1: e^{−1} ≈ 0.368 (standard error ≈ √(1/10⁴)·(1 + e^{−2}) ≈ 0.011).
  const int lag = static_cast<int>(1.0 / dt);
  double c = 0.0;
  for (int k = 0; k + lag < n; ++k)
    c += (v[static_cast<std::size_t>(k)] - m) * (v[static_cast<std::size_t>(k + lag)] - m);
  EXPECT_NEAR(c / (n - lag) / var, std::exp(-theta), 5 * 0.011);
}

TEST(OrnsteinUhlenbeckSchedule, ContinuousAndSymmetricWhenAsked) {
  Matrix mean = Matrix::Identity(3, 3);
  const MatrixSchedule ou =
      MatrixSchedule::ornstein_uhlenbeck(mean, mean, 1.0, 1.4142135623730951, 0.1, 5.0, 3, true);
  for (double t : {0.0, 0.05, 0.73, 4.99}) {
    const Matrix m = ou.at(t);
    EXPECT_LT((m - m.transpose()).cwiseAbs().maxCoeff(), 1e-15);
    // Linear interpolation: continuous, so the value just below and above t differ by O(ε).
    EXPECT_LT((ou.at(t + 1e-9) - m).cwiseAbs().maxCoeff(), 1e-6);
  }
  EXPECT_EQ((ou.at(0.0) - mean).cwiseAbs().maxCoeff(), 0.0);  // starts at `initial`
}

TEST(MatrixSchedule, PerLayerSinusoidAndJumps) {
  const Matrix a = Matrix::Constant(2, 2, 1.0), b = Matrix::Constant(2, 2, 2.0);
  const MatrixSchedule layers = MatrixSchedule::per_layer({a, b, a}, 0.5);
  EXPECT_EQ(layers.at(0.49)(0, 0), 1.0);
  EXPECT_EQ(layers.at(0.5)(0, 0), 2.0);
  EXPECT_EQ(layers.at(1.2)(0, 0), 1.0);
  EXPECT_EQ(layers.at(100.0)(0, 0), 1.0);  // the last layer beyond the end
  EXPECT_EQ(layers.jumps(1.2), (std::vector<double>{0.5, 1.0}));
  const MatrixSchedule wave = MatrixSchedule::sinusoid(a, b, 3.0, 0.25);
  EXPECT_DOUBLE_EQ(wave.at(0.7)(1, 0), 1.0 + 2.0 * std::sin(3.0 * 0.7 + 0.25));
  EXPECT_TRUE(MatrixSchedule::per_layer({a}, 1.0).is_constant());
}

// The relaxation dM/dt = r(F(t) − M), M(0) = initial, with the entrywise sinusoid F: its closed
// form starts at `initial` and satisfies the ODE (central differences of at(), error ~h²·|M'''|,
// about 1e-8, against r(F − M) with F written out here); derivative() matches the same differences
// for every kind (OU: slope of the cell, one-sided at a grid point).
TEST(MatrixSchedule, RelaxationSolvesItsOdeAndDerivativesMatchDifferences) {
  Matrix initial(2, 2), base(2, 2), amp(2, 2), omega(2, 2), phase(2, 2);
  initial << 0.3, -1.0, 2.0, 0.5;
  base << 2.0, 0.0, 0.0, 2.0;
  amp << 1.5, 1.0, 1.0, 1.5;
  omega << 1.0, 2.0, 2.0, 1.0;
  phase << 1.5707963267948966, 0.0, 0.0, 2.356194490192345;
  const double r = 1.3;
  const MatrixSchedule relax = MatrixSchedule::relaxation(initial, r, base, amp, omega, phase);
  EXPECT_LT((relax.at(0.0) - initial).cwiseAbs().maxCoeff(), 1e-14);
  const double h = 1e-4;
  for (double t : {0.0 + 2 * h, 0.4, 3.7, 12.0}) {
    Matrix target(2, 2);
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b)
        target(a, b) = base(a, b) + amp(a, b) * std::sin(omega(a, b) * t + phase(a, b));
    const Matrix fd = (relax.at(t + h) - relax.at(t - h)) / (2 * h);
    EXPECT_LT((fd - r * (target - relax.at(t))).cwiseAbs().maxCoeff(), 1e-7) << t;
    EXPECT_LT((fd - relax.derivative(t, t)).cwiseAbs().maxCoeff(), 1e-7) << t;
    const MatrixSchedule wave = MatrixSchedule::sinusoid(base, amp, omega, phase);
    const Matrix fw = (wave.at(t + h) - wave.at(t - h)) / (2 * h);
    EXPECT_LT((fw - wave.derivative(t, t)).cwiseAbs().maxCoeff(), 1e-7) << t;
  }
  // Long after the transient the solution is periodic: M(t + 2π) = M(t) up to e^{−r t}.
  EXPECT_LT((relax.at(40.0 + 2 * std::numbers::pi) - relax.at(40.0)).cwiseAbs().maxCoeff(), 1e-12);
  // OU: piecewise linear; inside a cell the derivative is the slope, at a grid point one-sided.
  const Matrix mean = Matrix::Identity(2, 2);
  const MatrixSchedule ou =
      MatrixSchedule::ornstein_uhlenbeck(mean, mean, 1.0, 1.0, 0.1, 1.0, 3, true);
  const Matrix slope_left = (ou.at(0.3) - ou.at(0.2)) / 0.1;
  const Matrix slope_right = (ou.at(0.4) - ou.at(0.3)) / 0.1;
  EXPECT_LT((ou.derivative(0.25, 0.25) - slope_left).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((ou.derivative(0.3, 0.25) - slope_left).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((ou.derivative(0.3, 0.35) - slope_right).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_EQ(ou.kinks(0.35).size(), 3u);  // 0.1, 0.2, 0.3
  EXPECT_TRUE(relax.kinks(5.0).empty());
  EXPECT_EQ(MatrixSchedule::per_layer({mean, 2 * mean}, 0.5).derivative(0.7, 0.7),
            Matrix::Zero(2, 2));
}

}  // namespace
