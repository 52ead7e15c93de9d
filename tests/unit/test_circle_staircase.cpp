// Tokens on the circle at large β in arc-length time ([R] §5.2): the arc-length
// reparametrisation against closed forms, the per-pair angle velocity of snapped clusters against
// the two-cluster closed form at β = 4000, snapping, and the merge of two tokens, whose
// Wasserstein arc length is g √(w_a w_b) exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "attnflow/arc_length_flow.hpp"
#include "attnflow/error.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/reduce/circle.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::reduce;
constexpr double kTwoPi = 2.0 * std::numbers::pi;

/// ẋ = −a x row-wise: every row shrinks at the same relative rate.
class Contraction : public OdeSystem {
 public:
  explicit Contraction(double a) : a_(a) {}
  void velocity(double, const Matrix& x, Matrix& v) override {
    ++evaluations_;
    v = -a_ * x;
  }
  std::uint64_t evaluations() const override { return evaluations_; }

 private:
  double a_;
  std::uint64_t evaluations_ = 0;
};

IntegrateOptions dopri5() {
  IntegrateOptions opt;
  opt.method = Method::dopri5;
  opt.dt = 0.0;
  opt.rtol = 1e-12;
  opt.atol = 1e-14;
  return opt;
}

Matrix column(const std::vector<double>& values) {
  Matrix m(static_cast<Index>(values.size()), 1);
  for (std::size_t i = 0; i < values.size(); ++i) m(static_cast<Index>(i), 0) = values[i];
  return m;
}

// ẋ = −a x from x0 runs along the straight line to 0, at ‖ẋ‖_w = a‖x‖_w; in arc length,
// x(s) = x0 (1 − s/‖x0‖_w), whatever a (here 1e-250, which squared would underflow).
TEST(ArcLengthFlow, StraightLineAtUnitSpeedWhateverTheRate) {
  const std::vector<double> w{0.25, 0.75};
  Matrix x(2, 2);
  x << 1.0, 2.0, -3.0, 0.5;
  const double norm0 = std::sqrt(0.25 * (1.0 + 4.0) + 0.75 * (9.0 + 0.25));
  EXPECT_NEAR(weighted_norm(x, w), norm0, 1e-15 * norm0);
  EXPECT_NEAR(weighted_norm(1e-250 * x, w) / 1e-250, norm0, 1e-15 * norm0);
  for (double a : {1.0, 1e-250}) {
    Contraction flow(a);
    ArcLengthFlow arc(flow, w);
    Matrix y = x;
    const double s_end = 0.75 * norm0;
    integrate(arc, y, {0.0, s_end}, dopri5(), [](std::size_t, double, const Matrix&) {});
    const Matrix expected = x * (1.0 - s_end / norm0);
    EXPECT_LT((y - expected).cwiseAbs().maxCoeff(), 1e-11) << "a = " << a;
    EXPECT_NEAR(arc.last_speed() / a, weighted_norm(expected, w), 1e-10);
  }
}

// At a rest point the path has ended: the state stays (no 0/0).
TEST(ArcLengthFlow, StopsWhereTheFlowVanishes) {
  Contraction flow(1.0);
  ArcLengthFlow arc(flow, {1.0});
  Matrix x = Matrix::Zero(1, 1), v;
  arc.velocity(0.0, x, v);
  EXPECT_EQ(v(0, 0), 0.0);
  EXPECT_EQ(arc.last_speed(), 0.0);
}

// Two snapped clusters of masses m_a, m_b at gap g (β = 4000, USA in t' = e^β t): the exact
// velocities are θ̇_a = m_b e^{β(cos g − 1)} sin g toward b and θ̇_b = −m_a (...) — about 1e-78
// here, which the summed-then-differenced form would bury under the O(1e-16) rounding of each
// cluster's own weight. Every token of a cluster gets exactly the same value.
TEST(CircleParticles, SnappedClustersFeelOnlyEachOther) {
  const double beta = 4000.0, g = 0.3, base = 1.0;
  const std::vector<double> w{0.2, 0.2, 0.2, 0.2, 0.2};
  const Matrix theta = column({base, base, base, base + g, base + g});
  CircleParticles flow(KernelKind::usa, beta, w, {.usa_rescaled_time = true});
  Matrix v;
  flow.velocity(0.0, theta, v);
  const double pull = std::exp(beta * (std::cos(g) - 1.0)) * std::sin(g);
  ASSERT_GT(pull, 0.0);
  for (Index i = 0; i < 3; ++i) EXPECT_NEAR(v(i, 0), 0.4 * pull, 1e-12 * pull);
  for (Index i = 3; i < 5; ++i) EXPECT_NEAR(v(i, 0), -0.6 * pull, 1e-12 * pull);
  EXPECT_EQ(v(0, 0), v(2, 0));
  EXPECT_EQ(v(3, 0), v(4, 0));
  // SA normalises the same sums: θ̇_a = m_b e^{..} sin g / (m_a + m_b e^{..}).
  CircleParticles sa(KernelKind::softmax, beta, w);
  sa.velocity(0.0, theta, v);
  const double e = std::exp(beta * (std::cos(g) - 1.0));
  EXPECT_NEAR(v(0, 0), 0.4 * pull / (0.6 + 0.4 * e), 1e-12 * pull);
}

TEST(CircleParticles, BetaRangeDependsOnTheClock) {
  EXPECT_NO_THROW(CircleParticles(KernelKind::usa, 4000.0, {}, {.usa_rescaled_time = true}));
  EXPECT_NO_THROW(CircleParticles(KernelKind::softmax, 4000.0));
  try {
    CircleParticles(KernelKind::usa, 4000.0);
    FAIL() << "USA in its own time at beta = 4000 must be refused";
  } catch (const InputError& e) {
    EXPECT_EQ(e.key(), "model.beta");
  }
  try {
    CircleParticles(KernelKind::softmax, 2e6);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "model.beta: must lie in [0, 1e6], got 2e+06");
  }
}

// Groups within the distance (single linkage, also across θ = 0) go to their mass-weighted mean
// as one double; far tokens and already-equal groups are untouched.
TEST(CircleSnap, WeightedMeanAcrossZeroAndIdempotent) {
  const double eps = 1e-9;
  Matrix theta = column({kTwoPi - eps, 2.0 * eps, 1.0, 1.0 + 0.5 * eps, 1.0 + eps, 3.0});
  const std::vector<double> w{0.1, 0.3, 0.2, 0.1, 0.1, 0.2};
  EXPECT_EQ(circle_snap(theta, w, 2e-9 + 1e-12), 1);  // the first pair is 3e-9 apart
  EXPECT_EQ(theta(0, 0), kTwoPi - eps);
  EXPECT_EQ(circle_snap(theta, w, 4e-9), 1);  // the triple is already one angle
  // Pair across 0: mean offset (0.1·0 + 0.3·3e-9)/0.4 from 2π − 1e-9.
  EXPECT_NEAR(std::remainder(theta(0, 0) - 1.25e-9, kTwoPi), 0.0, 4e-15);
  EXPECT_EQ(theta(0, 0), theta(1, 0));
  EXPECT_NEAR(theta(2, 0), 1.0 + (0.1 * 0.5 * eps + 0.1 * eps) / 0.4, 1e-15);
  EXPECT_EQ(theta(2, 0), theta(3, 0));
  EXPECT_EQ(theta(2, 0), theta(4, 0));
  EXPECT_EQ(theta(5, 0), 3.0);
  const Matrix before = theta;
  EXPECT_EQ(circle_snap(theta, w, 4e-9), 0);
  EXPECT_TRUE(theta == before);
  // The snapped angle stays on the first member's branch (unwrapped trajectories do not jump).
  Matrix far = column({1.0 + 3.0 * kTwoPi, 1.0 + 3.0 * kTwoPi + 2e-12});
  EXPECT_EQ(circle_snap(far, {0.5, 0.5}, 1e-9), 1);
  EXPECT_NEAR(far(0, 0), 1.0 + 3.0 * kTwoPi + 1e-12, 1e-14);
  EXPECT_EQ(far(0, 0), far(1, 0));
  const std::vector<Index> sizes = circle_cluster_sizes(theta, 1e-6);
  EXPECT_EQ(sizes, (std::vector<Index>{3, 2, 1}));
}

// Two tokens at gap g merge along the straight line to their weighted mean, so in Wasserstein
// arc length the merge takes exactly g √(w_a w_b) (w_a + w_b = 1), at any β: here β = 3000, where
// the flow itself would need a time ~e^{β(1 − cos g)} ≈ e^{25}. The merge is detected on a grid of
// 1e-5 in s, to the snap distance.
TEST(CircleStaircase, TwoTokenMergeTakesTheClosedFormArcLength) {
  const double beta = 3000.0, g = 0.13;
  const std::vector<double> w{0.3, 0.7};
  CircleParticles flow(KernelKind::usa, beta, w,
                       {.usa_rescaled_time = true, .snap_distance = 1e-10});
  ArcLengthFlow arc(flow, w);
  Matrix theta = column({0.4, 0.4 + g});
  std::vector<double> times;
  for (int k = 0; k <= 10000; ++k) times.push_back(1e-5 * k);
  double merged_at = -1.0;
  integrate(arc, theta, times, dopri5(), [&](std::size_t, double s, const Matrix& th) {
    if (merged_at < 0.0 && th(0, 0) == th(1, 0)) merged_at = s;
  });
  const double predicted = g * std::sqrt(0.3 * 0.7);
  EXPECT_GE(merged_at, predicted - 1e-9);
  EXPECT_LT(merged_at, predicted + 1e-5);
  // The merged point is the weighted mean, which the pair's attraction conserves.
  EXPECT_NEAR(theta(0, 0), 0.4 + 0.7 * g, 1e-9);
  EXPECT_NEAR(circle_normalized_energy(theta, w, beta), 1.0, 1e-15);
}

}  // namespace
