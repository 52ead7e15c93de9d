// Integrators: measured convergence orders against a tight DOPRI5 reference, DOPRI5's tolerance
// and step-size control, exact output times, the discrete-transformer Euler step, and the
// non-finite guard.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/integrator.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

Matrix integrate_to(const Model& model, const Matrix& x0, double t_end, IntegrateOptions opt,
                    IntegrateStats* stats = nullptr) {
  const Index n = x0.rows();
  Dynamics dyn(AttentionField(model, uniform_weights(n), index_positions(n)));
  Matrix x = x0;
  const IntegrateStats s =
      integrate(dyn, x, {0.0, t_end}, opt, [](std::size_t, double, const Matrix&) {});
  if (stats != nullptr) *stats = s;
  return x;
}

IntegrateOptions fixed(Method method, double dt) {
  IntegrateOptions o;
  o.max_steps = kMaxSteps;
  o.method = method;
  o.dt = dt;
  return o;
}

IntegrateOptions adaptive(double rtol, double atol) {
  IntegrateOptions o;
  o.method = Method::dopri5;
  o.max_steps = kMaxSteps;
  o.dt = 0.0;
  o.rtol = rtol;
  o.atol = atol;
  return o;
}

// N = 8 tokens in d = 3, SA with Q = K = V = I, β = 1, from a random start, to t = 1. The error at
// t = 1 is measured against DOPRI5 at rtol 1e-13 / atol 1e-15 (its own error ≲ 10·rtol = 1e-12,
// IntegratorDopri5, checked below to be ≥ 100× below the smallest measured error). Global error
// C·dt^p ⇒ the least-squares slope of log err vs log dt is p: 1 for Euler (the discrete transformer
// x + dt A(x), then normalised), 4 for classical RK4 (renormalising moves the state by O(dt⁵) per
// step).
TEST(IntegratorOrder, EulerIsFirstOrderAndRk4IsFourthOrder) {
  const Index n = 8, d = 3;
  for (Geometry geometry : {Geometry::sphere, Geometry::euclidean}) {
    SCOPED_TRACE(geometry_name(geometry));
    Rng rng(2024);
    const Matrix x0 = sphere_points(n, d, rng);
    const Model model = identity_heads(d, 1.0, KernelKind::softmax, geometry);
    const Matrix ref = integrate_to(model, x0, 1.0, adaptive(1e-13, 1e-15));
    const std::vector<double> dts = {0.1, 0.05, 0.025};
    for (Method method : {Method::euler, Method::rk4}) {
      std::vector<double> errors;
      for (double dt : dts)
        errors.push_back(
            (integrate_to(model, x0, 1.0, fixed(method, dt)) - ref).cwiseAbs().maxCoeff());
      const double slope = fitted_slope(dts, errors);
      std::cout << "[ order ] " << geometry_name(geometry) << " " << method_name(method)
                << " errors " << errors[0] << " " << errors[1] << " " << errors[2] << " slope "
                << slope << "\n";
      if (method == Method::euler) {
        EXPECT_GE(slope, 0.9);
        EXPECT_LE(slope, 1.1);
      } else {
        EXPECT_GE(slope, 3.8);
        EXPECT_LE(slope, 4.2);
        EXPECT_GT(errors.back(),
                  100.0 * 1e-12);  // the reference is far tighter than what we measure
      }
    }
  }
}

// DOPRI5 meets its tolerance: with atol = rtol/100 the per-step error estimate is held below
// atol + rtol |y| ≤ 1.01 rtol (|y| ≤ 1 on the sphere); over t ∈ [0, 1] the global error stays
// within 10·rtol·max(1, max|y|) of a reference at rtol 1e-12. The step counts (over t ∈ [0, 4],
// enough steps for the ratio to be resolved) follow the 4th-order error estimate, h ∝ tol^{1/5}:
// 100× tighter ⇒ 100^{1/5} ≈ 2.5× the steps (we allow [1.8, 3.5]; an estimator of the wrong
// order would give a ratio near 10 (order 1) or 1.6 (order 9)).
TEST(IntegratorDopri5, GlobalErrorWithinTolerance) {
  const Index n = 8, d = 3;
  for (Geometry geometry : {Geometry::sphere, Geometry::euclidean}) {
    SCOPED_TRACE(geometry_name(geometry));
    Rng rng(7);
    const Matrix x0 = sphere_points(n, d, rng);
    const Model model = identity_heads(d, 1.0, KernelKind::softmax, geometry);
    const Matrix ref = integrate_to(model, x0, 1.0, adaptive(1e-12, 1e-14));
    const double scale = std::max(1.0, ref.cwiseAbs().maxCoeff());
    std::vector<std::uint64_t> steps;
    for (double rtol : {1e-6, 1e-8}) {
      const Matrix x = integrate_to(model, x0, 1.0, adaptive(rtol, rtol / 100.0));
      const double err = (x - ref).cwiseAbs().maxCoeff();
      IntegrateStats stats;
      integrate_to(model, x0, 4.0, adaptive(rtol, rtol / 100.0), &stats);
      std::cout << "[ dopri5 ] " << geometry_name(geometry) << " rtol " << rtol << " error " << err
                << " steps on [0, 4] " << stats.steps << " rejected " << stats.rejected << "\n";
      EXPECT_LE(err, 10.0 * rtol * scale);
      steps.push_back(stats.steps);
    }
    const double ratio = static_cast<double>(steps[1]) / static_cast<double>(steps[0]);
    EXPECT_GE(ratio, 1.8);
    EXPECT_LE(ratio, 3.5);
  }
}

// Output times are hit exactly: the observer sees index k with t == times[k] bitwise (awkward
// values, a repeated time, spans that are not multiples of dt), and the state observed there is
// the solution at that time (DOPRI5 reference at each t_k separately).
TEST(IntegratorOutputs, RequestedTimesAreHitExactly) {
  const Index n = 6, d = 3;
  Rng rng(99);
  const Matrix x0 = sphere_points(n, d, rng);
  const Model model = identity_heads(d, 2.0, KernelKind::softmax, Geometry::sphere);
  const std::vector<double> times = {0.0, 0.1,        0.3, 1.0 / 3.0,      0.7,
                                     0.7, 0.7 + 1e-9, 1.0, 2.0 / 3.0 + 1.0};
  for (Method method : {Method::euler, Method::rk4, Method::dopri5}) {
    SCOPED_TRACE(method_name(method));
    Dynamics dyn(AttentionField(model, uniform_weights(n), index_positions(n)));
    Matrix x = x0;
    std::vector<std::size_t> seen_k;
    std::vector<double> seen_t;
    std::vector<Matrix> states;
    IntegrateOptions opt = method == Method::dopri5 ? adaptive(1e-9, 1e-11) : fixed(method, 0.01);
    integrate(dyn, x, times, opt, [&](std::size_t k, double t, const Matrix& state) {
      seen_k.push_back(k);
      seen_t.push_back(t);
      states.push_back(state);
    });
    ASSERT_EQ(seen_t.size(), times.size());
    for (std::size_t k = 0; k < times.size(); ++k) {
      EXPECT_EQ(seen_k[k], k);
      EXPECT_EQ(seen_t[k], times[k]) << k;  // bitwise
    }
    EXPECT_TRUE(states[0] == x0);
    EXPECT_TRUE(states.back() == x);
    if (method != Method::dopri5) continue;
    for (std::size_t k = 1; k < times.size(); ++k) {
      const Matrix ref = integrate_to(model, x0, times[k], adaptive(1e-12, 1e-14));
      EXPECT_LE((states[k] - ref).cwiseAbs().maxCoeff(), 10.0 * 1e-9) << "t = " << times[k];
    }
  }
}

// Fixed steps: an output interval of length L gets ⌈L/dt⌉ equal steps, so the counts are known in
// advance: [0, 0.25] with dt = 0.1 → 3 steps, [0.25, 1] → 8; RK4 costs 4 evaluations per step.
TEST(IntegratorOutputs, FixedStepCountsAndEvaluations) {
  const Index n = 4, d = 3;
  Rng rng(3);
  const Matrix x0 = sphere_points(n, d, rng);
  const Model model = identity_heads(d, 1.0, KernelKind::usa, Geometry::sphere);
  for (Method method : {Method::euler, Method::rk4}) {
    Dynamics dyn(AttentionField(model, uniform_weights(n), index_positions(n)));
    Matrix x = x0;
    const IntegrateStats stats = integrate(dyn, x, {0.0, 0.25, 1.0}, fixed(method, 0.1),
                                           [](std::size_t, double, const Matrix&) {});
    EXPECT_EQ(stats.steps, 11u) << method_name(method);
    EXPECT_EQ(stats.evaluations, method == Method::euler ? 11u : 44u) << method_name(method);
  }
}

// SPEC §1: "the discrete transformer is the explicit Euler step with dt = 1 per layer:
// x ← x + Attention(x) (then LayerNorm)". One step against the dense field: the engine's error
// (engine_bound · v_abs) plus the addition and the normalisation ((d + 6) u relative).
TEST(IntegratorEuler, OneStepIsOneAttentionLayer) {
  const Index n = 40, d = 5;
  for (Geometry geometry : {Geometry::sphere, Geometry::euclidean}) {
    SCOPED_TRACE(geometry_name(geometry));
    Rng rng(17);
    const Matrix x0 = sphere_points(n, d, rng);
    const std::vector<double> w = uniform_weights(n), pos = index_positions(n);
    const Model model = multi_head(d, 1.0, KernelKind::softmax, rng, geometry);
    const dense::FieldResult ref = dense::field(model, x0, w, pos);
    Matrix layer = x0 + ref.v;
    if (geometry == Geometry::sphere)
      for (Index i = 0; i < n; ++i) layer.row(i) /= layer.row(i).norm();
    Dynamics dyn(AttentionField(model, w, pos));
    Matrix x = x0;
    integrate(dyn, x, {0.0, 1.0}, fixed(Method::euler, 1.0),
              [](std::size_t, double, const Matrix&) {});
    const double rel = engine_bound(model, ref, w, n, d);
    for (Index i = 0; i < n; ++i) {
      const double tol = rel * ref.v_abs.row(i).norm() * 2.0 +
                         static_cast<double>(d + 6) * kU * (x0.row(i).norm() + ref.v.row(i).norm());
      EXPECT_LE((x.row(i) - layer.row(i)).cwiseAbs().maxCoeff(), tol) << i;
    }
  }
}

// A state that overflows stops the run with NumericalError; the frames observed before stay.
// USA in R^d with |x| = 30: scores 900 > 709.8, so e^{s} overflows after the first step.
TEST(IntegratorGuard, NonFiniteStateThrowsNumericalError) {
  const Index n = 3, d = 2;
  Matrix x(n, d);
  x << 30.0, 0.0, 0.0, 30.0, 21.0, 21.0;
  const Model model = identity_heads(d, 1.0, KernelKind::usa, Geometry::euclidean);
  Dynamics dyn(AttentionField(model, uniform_weights(n), index_positions(n)));
  std::vector<double> observed;
  try {
    integrate(dyn, x, {0.0, 0.5, 1.0}, fixed(Method::euler, 0.1),
              [&](std::size_t, double t, const Matrix&) { observed.push_back(t); });
    ADD_FAILURE() << "no NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_EQ(std::string(e.what()),
              "integrate: the state became non-finite (NaN or infinity) at t = 0.1; use a smaller "
              "integrate.dt or tighter tolerances");
  }
  EXPECT_EQ(observed, std::vector<double>{0.0});
}

}  // namespace
