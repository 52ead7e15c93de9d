// Metastability detection ([R] §5): plateaus and merges on synthetic staircases whose plateau
// boundaries are known in closed form, the time changes of the staircase, and the identity
// dE/ds = ‖v‖_{L²(μ)} along USA (the normalised-gradient time of [R] / arXiv 2410.06833).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "analysis_test_support.hpp"
#include "attnflow/analysis/metastability.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/integrator.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::analysis;

// A staircase: levels L_k = 0.2 k on plateaus, linear ramps of width r centred at τ_k, plus a
// deterministic wiggle of amplitude η = 10⁻³ (below the band tol/2 = 2.5·10⁻³). On a ramp of
// slope h/r the band [L_k − η, L_k + η + tol − 2η] ends exactly where the ramp has risen by
// tol − 2η ≤ rise ≤ tol, i.e. between τ − r/2 + r(tol − 2η)/h and τ − r/2 + r·tol/h (similarly at
// the start); frames are Δt apart, so detected boundaries lie within Δt of those intervals.
TEST(Plateaus, FindsTheStepsOfASyntheticStaircase) {
  const std::vector<double> tau{10.0, 25.0, 32.0, 60.0};
  const double r = 1.0, h = 0.2, eta = 1e-3, tol = 5e-3, dt = 0.05;
  std::vector<double> t, y;
  for (int k = 0; k <= 1600; ++k) {
    const double tk = dt * k;
    double v = 0.0;
    for (double c : tau) v += h * std::clamp((tk - (c - r / 2)) / r, 0.0, 1.0);
    t.push_back(tk);
    y.push_back(v + eta * std::sin(7.3 * tk));
  }
  const std::vector<Plateau> p = find_plateaus(t, y, {tol, 2.0});
  ASSERT_EQ(p.size(), tau.size() + 1);
  for (std::size_t k = 0; k < p.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_NEAR(p[k].value, h * static_cast<double>(k), eta + tol);
    if (k < tau.size()) {
      const double lo = tau[k] - r / 2 + r * (tol - 2 * eta) / h - dt,
                   hi = tau[k] - r / 2 + r * tol / h + dt;
      EXPECT_GE(p[k].t_end, lo);
      EXPECT_LE(p[k].t_end, hi);
    }
    if (k > 0) {
      const double lo = tau[k - 1] + r / 2 - r * tol / h - dt,
                   hi = tau[k - 1] + r / 2 - r * (tol - 2 * eta) / h + dt;
      EXPECT_GE(p[k].t_start, lo);
      EXPECT_LE(p[k].t_start, hi);
    }
  }
}

// Plateaus shorter than min_duration are dropped; non-finite values break runs.
TEST(Plateaus, MinimumDurationAndNonFiniteValues) {
  const std::vector<double> t{0, 1, 2, 3, 4, 5, 6, 7};
  const std::vector<double> y{5, 5, 5, 4, 4, 3, 3, 3};
  const std::vector<Plateau> p = find_plateaus(t, y, {0.0, 1.5});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].first, 0u);
  EXPECT_EQ(p[0].last, 2u);
  EXPECT_EQ(p[1].first, 5u);
  EXPECT_EQ(p[1].last, 7u);
  std::vector<double> z = y;
  z[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(find_plateaus(t, z, {0.0, 1.5}).size(), 1u);
}

// Merges of a cluster-count staircase: one event per decrease, at the right frames.
TEST(Merges, DecreasesOfTheClusterCount) {
  const std::vector<double> t{0, 1, 2, 3, 4, 5};
  const std::vector<std::int64_t> c{6, 6, 4, 4, 4, 1};
  const std::vector<MergeEvent> m = merge_events(t, c);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].frame, 2u);
  EXPECT_EQ(m[0].t_before, 1.0);
  EXPECT_EQ(m[0].clusters_before, 6);
  EXPECT_EQ(m[0].clusters_after, 4);
  EXPECT_EQ(m[1].t_after, 5.0);
  EXPECT_EQ(m[1].clusters_after, 1);
}

// The trapezoid rule is exact for a linear speed: s(t) = t² for speed 2t.
TEST(TimeChanges, ArcLengthOfLinearSpeedIsExact) {
  std::vector<double> t, v;
  for (int k = 0; k <= 10; ++k) {
    t.push_back(0.3 * k);
    v.push_back(0.6 * k);
  }
  const std::vector<double> s = arc_length_time(t, v);
  for (std::size_t k = 0; k < t.size(); ++k) EXPECT_NEAR(s[k], t[k] * t[k], 1e-14);
}

// Tokens rotating rigidly at angular speed ω in a plane: speed ω (all tokens on the unit circle),
// chord between frames 2 sin(ωΔt/2) < arc ωΔt.
TEST(TimeChanges, ChordLengthOfARigidRotation) {
  const double omega = 0.7, dt = 0.25;
  std::vector<Matrix> frames;
  for (int k = 0; k < 5; ++k) {
    Matrix x(3, 2);
    for (int i = 0; i < 3; ++i) {
      const double a = 2.0 * i + omega * dt * k;
      x.row(i) << std::cos(a), std::sin(a);
    }
    frames.push_back(x);
  }
  const std::vector<double> s = chord_length_time(frames, {0.2, 0.3, 0.5});
  for (std::size_t k = 0; k < s.size(); ++k)
    EXPECT_NEAR(s[k], static_cast<double>(k) * 2.0 * std::sin(omega * dt / 2), 1e-14);
}

// A constant closest-pair cosine ρ gives s = t e^{−β(1−ρ)}; the closest inter-cluster cosine
// against a brute force over pairs.
TEST(TimeChanges, ClosestPairRescaling) {
  const std::vector<double> t{0, 0.5, 2};
  const std::vector<double> s = closest_pair_time(t, {0.9, 0.9, 0.9}, 10.0);
  EXPECT_NEAR(s[2], 2.0 * std::exp(-1.0), 1e-15);
  Rng rng(31);
  const Matrix x = analysistest::radial_points(30, 3, rng);
  std::vector<std::int64_t> labels(30);
  for (std::size_t i = 0; i < 30; ++i) labels[i] = static_cast<std::int64_t>(i % 4);
  double best = -2.0;
  for (Index i = 0; i < 30; ++i)
    for (Index j = 0; j < 30; ++j)
      if (labels[static_cast<std::size_t>(i)] != labels[static_cast<std::size_t>(j)])
        best = std::max(best, x.row(i).dot(x.row(j)) / (x.row(i).norm() * x.row(j).norm()));
  EXPECT_NEAR(closest_cluster_cosine(x, labels), best, 1e-15);
  EXPECT_EQ(closest_cluster_cosine(x, std::vector<std::int64_t>(30, 0)),
            -std::numeric_limits<double>::infinity());
}

// Along USA with Q = K = V = I (the Wasserstein gradient ascent of E_β, [R]) the exact dissipation
// is Σ_i ⟨∇_i E, ẋ_i⟩ = Σ_i w_i |ẋ_i|² (∇_i E = w_i Σ_j w_j e^{β⟨x_i,x_j⟩} x_j, ẋ_i its tangent
// part), so dE/dt = ‖ẋ‖²_{L²(μ)}: the L²(μ) speed is the norm under which s is the normalised
// gradient time (dE/ds = ‖ẋ‖). energy_rate (energy.cpp, chain rule) is the independent side.
TEST(TimeChanges, UsaEnergyRateIsTheSquaredSpeed) {
  Rng rng(32);
  const Index n = 24, d = 3;
  Measure m{analysistest::sphere_points(n, d, rng), analysistest::random_weights(n, rng),
            analysistest::index_positions(n)};
  const Matrix id = Matrix::Identity(d, d);
  const Model model = analysistest::one_head(id, id, id, 2.0, KernelKind::usa);
  Dynamics dyn(AttentionField(model, m.weights, m.positions));
  Matrix v;
  dyn.velocity(0.0, m.x, v);
  const double speed = l2_speed(v, m.weights);
  // Each side is a sum of N·d products of engine outputs; the engine's relative error here (β = 2,
  // scores ≤ 2, |log w| ≤ 6, N = 24: the first-order bound of engine_test_support.hpp) is below
  // 300u, so each side is within 4·300u relative and their difference within 2400u < 1e-12.
  EXPECT_NEAR(energy_rate(model, m, v), speed * speed, 1e-12 * speed * speed);
  EXPECT_GT(speed, 0.0);
}

}  // namespace
