// The equiangular model of [R] (SPEC §3): particles that start with all ⟨x_i, x_j⟩ = ρ₀ keep all
// inner products equal, and ρ(t) solves a scalar ODE.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/init.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/kernel_registry.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"
#include "integrate_test_support.hpp"

namespace {

using attnflow::test::grid;

using namespace attnflow;
using namespace enginetest;

struct Trajectory {
  std::vector<double> t;
  std::vector<Matrix> x;
};

Trajectory particles(const Model& model, Index n, double rho0, const std::vector<double>& times,
                     double rtol, double atol) {
  Dynamics dyn(AttentionField(model, uniform_weights(n), index_positions(n)));
  Matrix x = equiangular_points(n, n, rho0);
  IntegrateOptions opt;
  opt.method = Method::dopri5;
  opt.max_steps = kMaxSteps;
  opt.dt = 0.0;
  opt.rtol = rtol;
  opt.atol = atol;
  Trajectory tr;
  integrate(dyn, x, times, opt, [&](std::size_t, double t, const Matrix& s) {
    tr.t.push_back(t);
    tr.x.push_back(s);
  });
  return tr;
}

/// Checks every ⟨x_i, x_j⟩ (i < j) against ρ within tol; returns the spread max − min.
double check_pairs(const Matrix& x, double rho, double tol) {
  const Matrix gram = x * x.transpose();
  double lo = 2.0, hi = -2.0;
  for (Index i = 0; i < x.rows(); ++i)
    for (Index j = i + 1; j < x.rows(); ++j) {
      EXPECT_NEAR(gram(i, j), rho, tol) << "pair " << i << "," << j;
      lo = std::min(lo, gram(i, j));
      hi = std::max(hi, gram(i, j));
    }
  return hi - lo;
}

// β = 0 (the engine itself does not validate β > 0; DotScore with β = 0 gives s_ij = 0): every
// token attends uniformly, SA and USA both give v_i = x̄ = (1/n) Σ_j x_j (Σ w_j = 1), so with
// Q = K = V = I on the sphere ẋ_i = x̄ − ⟨x_i, x̄⟩ x_i. If ⟨x_i, x_j⟩ = ρ for all i ≠ j then
// ⟨x_i, x̄⟩ = m := (1 + (n−1)ρ)/n for every i and
//   ρ̇ = ⟨ẋ_i, x_j⟩ + ⟨x_i, ẋ_j⟩ = 2(m − mρ) = (2/n)(1 − ρ)(1 + (n−1)ρ),
// the same for every pair (so equal inner products stay equal). Partial fractions,
//   n / ((1−ρ)(1+(n−1)ρ)) = 1/(1−ρ) + (n−1)/(1+(n−1)ρ),
// integrate to log((1+(n−1)ρ)/(1−ρ)) = 2t + log K, K = ((n−1)ρ₀ + 1)/(1 − ρ₀), i.e.
//   ρ(t) = (K e^{2t} − 1)/(K e^{2t} + n − 1).
// (It is also SPEC §3's SA/USA equation at β = 0.) Every other kernel is uniform at β = 0 too:
// l2 (s = −0·‖·‖²), hardmax (all scores tie), sinkhorn (uniform masses make the uniform plan
// doubly stochastic); sigmoid gives a_ij = w_j e^{−b} σ(b) = w_j/(1 + e^b) (docs/kernels.md), i.e.
// v_i = x̄/(1 + e^b): the same curve at time t/(1 + e^b). Tolerance: DOPRI5 at rtol 1e-11, atol
// 1e-13 keeps the global error of each coordinate ≲ 10·rtol (see IntegratorDopri5), so each inner
// product of unit vectors is off by ≤ 2·√n·10·rtol ≈ 5e-10; we require 1e-8.
double beta_zero_speed(const Model& model, Index n) {
  switch (model.kernel) {
    case KernelKind::softmax:
    case KernelKind::usa:
    case KernelKind::l2:
    case KernelKind::sinkhorn:
    case KernelKind::hardmax:
      return 1.0;
    case KernelKind::sigmoid:
      return 1.0 / (1.0 + std::exp(dense::sigmoid_bias(model, n)));
  }
  ADD_FAILURE() << "unknown kernel: add its β = 0 speed here";
  return 0.0;
}

TEST(Equiangular, BetaZeroClosedForm) {
  const Index n = 5;
  for (const KernelInfo& info : kKernels) {
    for (double rho0 : {0.2, -0.2}) {
      SCOPED_TRACE(std::string(info.name) + " rho0 = " + std::to_string(rho0));
      const Model model = identity_heads(n, 0.0, info.kind, Geometry::sphere);
      const double speed = beta_zero_speed(model, n);
      const Trajectory tr = particles(model, n, rho0, grid(3.0 / speed, 12), 1e-11, 1e-13);
      const double nn = static_cast<double>(n);
      const double K = ((nn - 1.0) * rho0 + 1.0) / (1.0 - rho0);
      double max_spread = 0.0;
      for (std::size_t k = 0; k < tr.t.size(); ++k) {
        SCOPED_TRACE("t = " + std::to_string(tr.t[k]));
        const double e = K * std::exp(2.0 * speed * tr.t[k]);
        const double rho = (e - 1.0) / (e + nn - 1.0);
        max_spread = std::max(max_spread, check_pairs(tr.x[k], rho, 1e-8));
      }
      EXPECT_LE(max_spread, 1e-8);
      // Non-vacuous: the particles (checked above at t = 3) really moved far from ρ₀.
      const double rho_end = (K * std::exp(6.0) - 1.0) / (K * std::exp(6.0) + nn - 1.0);
      EXPECT_GT(rho_end - rho0, 0.7);
    }
  }
}

/// The scalar ODE integrated with classical RK4 at h = 10⁻³ (global error ~h⁴ ≲ 10⁻¹²), written
/// here independently of the integrator under test.
std::vector<double> solve_scalar(const std::function<double(double)>& f, double rho0,
                                 const std::vector<double>& times) {
  std::vector<double> out = {rho0};
  double rho = rho0;
  for (std::size_t k = 1; k < times.size(); ++k) {
    const int steps = static_cast<int>(std::lround((times[k] - times[k - 1]) / 1e-3));
    const double h = (times[k] - times[k - 1]) / steps;
    for (int s = 0; s < steps; ++s) {
      const double k1 = f(rho), k2 = f(rho + 0.5 * h * k1), k3 = f(rho + 0.5 * h * k2),
                   k4 = f(rho + h * k3);
      rho += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    out.push_back(rho);
  }
  return out;
}

// β > 0 (SPEC §3, [R]), derived as above with a_ij ∝ e^{β⟨x_i,x_j⟩}: for SA,
// Z = e^β + (n−1)e^{βρ}, ⟨v_i, x_i⟩ = (e^β + (n−1)ρ e^{βρ})/Z, ⟨v_i, x_k⟩ = (e^β ρ +
// e^{βρ}(1 + (n−2)ρ))/Z, so ρ̇ = 2(⟨v_i,x_k⟩ − ρ⟨v_i,x_i⟩) = 2e^{βρ}(1−ρ)(1+(n−1)ρ)/Z; USA has
// Z replaced by n. Particles (DOPRI5) against the scalar ODE (RK4 above), tolerance as above.
TEST(Equiangular, PositiveBetaFollowsTheScalarOde) {
  const Index n = 4;
  const double nn = static_cast<double>(n);
  for (const KernelInfo& info : {kernel_info(KernelKind::softmax), kernel_info(KernelKind::usa)}) {
    for (double beta : {1.0, 4.0}) {
      SCOPED_TRACE(std::string(info.name) + " beta = " + std::to_string(beta));
      const double rho0 = 0.1;
      const auto rate = [&](double r) {
        const double numer = 2.0 * std::exp(beta * r) * (1.0 - r) * ((nn - 1.0) * r + 1.0);
        return info.kind == KernelKind::softmax
                   ? numer / (std::exp(beta) + (nn - 1.0) * std::exp(beta * r))
                   : numer / nn;
      };
      const std::vector<double> times = grid(2.0, 8);
      const std::vector<double> rho = solve_scalar(rate, rho0, times);
      const Trajectory tr = particles(identity_heads(n, beta, info.kind, Geometry::sphere), n, rho0,
                                      times, 1e-11, 1e-13);
      for (std::size_t k = 0; k < times.size(); ++k) {
        SCOPED_TRACE("t = " + std::to_string(times[k]));
        EXPECT_LE(check_pairs(tr.x[k], rho[k], 1e-8), 1e-8);
      }
      EXPECT_GT(rho.back() - rho0, 0.1);  // a real change, not a comparison of constants
    }
  }
}

}  // namespace
