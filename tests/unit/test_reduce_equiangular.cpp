// The equiangular model of [R] with the normalisation schemes (docs/reduced_models.md §2):
// closed forms at β = 0, a conservation law, the linearised rates near ρ = 1, the hitting time,
// and particles (a dense reference written here, and the engine) started exactly equiangular.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/init.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/reduce/equiangular.hpp"
#include "integrate_test_support.hpp"

namespace {

using attnflow::test::grid;

using namespace attnflow;
using namespace attnflow::reduce;

constexpr Normalization kSchemes[] = {Normalization::post_ln, Normalization::pre_ln,
                                      Normalization::mix_ln,  Normalization::peri_ln,
                                      Normalization::ngpt,    Normalization::sqrt_scaling};

IntegrateOptions tight() {
  return attnflow::test::dopri5_options(1e-12, 1e-14);
}

EquiangularParams params(KernelKind kernel, Index n, double beta, Normalization scheme) {
  EquiangularParams p;
  p.kernel = kernel;
  p.n = n;
  p.beta = beta;
  p.scheme = scheme;
  p.mix_switch_time = 0.7;
  p.ngpt_alpha = 1.3;
  return p;
}

// β = 0, Post-LN (docs §2.2): a = b = 1/n for SA and USA, so ρ̇ = (2/n)(1 − ρ)(1 + (n − 1)ρ);
// partial fractions give ρ(t) = (K e^{2t} − 1)/(K e^{2t} + n − 1), K = (1 + (n−1)ρ0)/(1 − ρ0), and
// the hitting time of ρ = θ is T = ½ log((1 + (n−1)θ)/((1 − θ)K)). Tolerance: DOPRI5 at
// rtol 1e-12 gives ≲ 1e-11 on ρ ∈ [−1, 1]; the hitting time (inverse system dt/dρ, |dt/dρ| ≤
// 1/(2(1−θ)) = 500) is accurate to ≲ 1e-9 relative.
TEST(ReduceEquiangular, BetaZeroClosedFormAndHittingTime) {
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    for (double rho0 : {-0.2, 0.3}) {
      const Index n = 5;
      const double nn = 5.0, K = (1.0 + (nn - 1.0) * rho0) / (1.0 - rho0);
      const EquiangularParams p = params(kernel, n, 0.0, Normalization::post_ln);
      const auto frames = solve_equiangular(p, rho0, 1.0, grid(4.0, 8), tight());
      ASSERT_EQ(frames.size(), 9u);
      for (const EquiangularFrame& f : frames) {
        const double e = K * std::exp(2.0 * f.t);
        EXPECT_NEAR(f.rho, (e - 1.0) / (e + nn - 1.0), 1e-10) << "t = " << f.t;
        EXPECT_EQ(f.r, 1.0);
      }
      const double theta = 0.999;
      const double expected = 0.5 * std::log((1.0 + (nn - 1.0) * theta) / ((1.0 - theta) * K));
      EXPECT_NEAR(equiangular_hitting_time(p, rho0, 1.0, theta, tight()), expected,
                  1e-9 * expected);
    }
  }
}

// Pre-LN and Peri-LN at β = 0 (docs §2.3): a = b = 1/n, so with q = 1 + (n−1)ρ the drive is
// 2bq(1−ρ) and p = ⟨θ, A⟩ = q/n, i.e. 2bq = 2p. Pre-LN (s = r, ṙ = p) and Peri-LN (s = r|A|,
// ṙ = p/|A|) then both give d log(1 − ρ)/dt = −2p/s = −2 d log r/dt: (1 − ρ) r² is conserved.
// For Pre-LN moreover ṙ = q/n = 1 − D/r² with D = (n−1)(1−ρ0)r0²/n, which integrates to
//     t = r − r0 + (√D/2) log[((r − √D)(r0 + √D)) / ((r + √D)(r0 − √D))],
// hence 1 − ρ ~ (1 − ρ0) r0²/t²: the polynomial clustering of [R] §normalization.
TEST(ReduceEquiangular, PreAndPeriLnConserveAtBetaZero) {
  const Index n = 7;
  const double nn = 7.0, rho0 = 0.15, r0 = 1.5;
  for (Normalization scheme : {Normalization::pre_ln, Normalization::peri_ln}) {
    for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
      SCOPED_TRACE(std::string(normalization_name(scheme)));
      const auto frames =
          solve_equiangular(params(kernel, n, 0.0, scheme), rho0, r0, grid(20.0, 10), tight());
      const double invariant = (1.0 - rho0) * r0 * r0;
      for (const EquiangularFrame& f : frames)
        EXPECT_NEAR((1.0 - f.rho) * f.r * f.r, invariant, 1e-10 * invariant) << "t = " << f.t;
      EXPECT_GT(frames.back().r, 2.0 * r0);  // non-vacuous
      if (scheme != Normalization::pre_ln) continue;
      const double sd = std::sqrt((nn - 1.0) * invariant / nn);
      for (const EquiangularFrame& f : frames) {
        const double t =
            f.r - r0 + 0.5 * sd * std::log((f.r - sd) * (r0 + sd) / ((f.r + sd) * (r0 - sd)));
        EXPECT_NEAR(t, f.t, 1e-9 * (1.0 + f.t));
      }
    }
  }
}

// Linearisation at ρ = 1 (docs §2.4, [R]): with ε = 1 − ρ the rate λ(ε) = ρ̇/ε is
//   SA : 2(n − (n−1)ε)/(n − 1 + e^{βε}) = 2 (1 − (n − 1 + β)ε/n + O(ε²)),
//   USA: (2/n) e^{β(1−ε)}(n − (n−1)ε)   = 2e^β (1 − (β + (n−1)/n)ε + O(ε²)),
// so at ε = 1e-7 (n = 8, β = 2) the relative deviation from 2 and 2e^β is ≤ 3e-7 (plus ≤ 1e-9
// from representing 1 − ε): we require 1e-6. (An integration cannot resolve ε ≪ rtol·|ρ| ≈ rtol,
// so the right-hand side itself is checked.) Pre-LN instead gives t²(1 − ρ) → const, checked over
// a doubling of t to 1 % (the O(log t / t) correction of r(t) = t + O(log t) at t = 1000).
TEST(ReduceEquiangular, LinearisedRatesNearOne) {
  const Index n = 8;
  const double beta = 2.0, eps = 1e-7;
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    const double rate = kernel == KernelKind::softmax ? 2.0 : 2.0 * std::exp(beta);
    double rho_dot = 0.0, r_dot = 0.0;
    equiangular_rhs(params(kernel, n, beta, Normalization::post_ln), 0.0, 1.0 - eps, 1.0, rho_dot,
                    r_dot);
    EXPECT_NEAR(rho_dot / eps, rate, 1e-6 * rate) << (kernel == KernelKind::softmax ? "SA" : "USA");
    EXPECT_EQ(r_dot, 0.0);
    // Not a tautology: away from ρ = 1 the rate differs (here by more than 1 %).
    equiangular_rhs(params(kernel, n, beta, Normalization::post_ln), 0.0, 0.5, 1.0, rho_dot, r_dot);
    EXPECT_GT(std::fabs(rho_dot / 0.5 - rate), 0.01 * rate);
  }
  const auto pre = solve_equiangular(params(KernelKind::softmax, n, beta, Normalization::pre_ln),
                                     0.2, 1.0, {0.0, 1000.0, 2000.0}, tight());
  const double c1 = 1000.0 * 1000.0 * (1.0 - pre[1].rho), c2 = 2000.0 * 2000.0 * (1.0 - pre[2].rho);
  EXPECT_NEAR(c2 / c1, 1.0, 0.01);
}

// ---------------------------------------------------------------------------------------------
// Particles. A dense reference of the token dynamics each scheme idealises ([R] §normalization),
// written independently of both the ODE and the engine: θ_i = x_i/|x_i|, A_i = Σ_j a_ij θ_j with
// SA weights softmax_j(β⟨θ_i, θ_j⟩) or USA weights e^{β⟨θ_i,θ_j⟩}/n, and
//   post_ln ẋ = |x| P⊥A   pre_ln ẋ = A   peri_ln ẋ = A/|A|   ngpt ẋ = |x| α P⊥A/|A|
//   sqrt_scaling ẋ = |x| P⊥A/√(t+1)   mix_ln post_ln then pre_ln   (P⊥ = I − θθᵀ).
class DenseNormalizedParticles : public OdeSystem {
 public:
  explicit DenseNormalizedParticles(EquiangularParams p) : p_(p) {}
  void velocity(double t, const Matrix& x, Matrix& v) override {
    ++evals_;
    const Index n = x.rows();
    Matrix theta = x;
    for (Index i = 0; i < n; ++i) theta.row(i).normalize();
    v.resize(n, x.cols());
    for (Index i = 0; i < n; ++i) {
      Eigen::RowVectorXd a = Eigen::RowVectorXd::Zero(x.cols());
      double z = 0.0;
      for (Index j = 0; j < n; ++j) {
        const double w = std::exp(p_.beta * theta.row(i).dot(theta.row(j)));
        z += w;
        a += w * theta.row(j);
      }
      a /= p_.kernel == KernelKind::softmax ? z : static_cast<double>(n);
      const Eigen::RowVectorXd th = theta.row(i);
      const Eigen::RowVectorXd tangent = a - a.dot(th) * th;
      const double r = x.row(i).norm();
      Normalization s = p_.scheme;
      if (s == Normalization::mix_ln)
        s = t < p_.mix_switch_time ? Normalization::post_ln : Normalization::pre_ln;
      if (s == Normalization::post_ln) v.row(i) = r * tangent;
      if (s == Normalization::pre_ln) v.row(i) = a;
      if (s == Normalization::peri_ln) v.row(i) = a / a.norm();
      if (s == Normalization::ngpt) v.row(i) = r * p_.ngpt_alpha * tangent / a.norm();
      if (s == Normalization::sqrt_scaling) v.row(i) = r * tangent / std::sqrt(t + 1.0);
    }
  }
  std::uint64_t evaluations() const override { return evals_; }

 private:
  EquiangularParams p_;
  std::uint64_t evals_ = 0;
};

/// Checks every pair ⟨θ_i, θ_j⟩ against ρ and every |x_i| against r.
void expect_equiangular(const Matrix& x, double rho, double r, double tol) {
  for (Index i = 0; i < x.rows(); ++i) {
    EXPECT_NEAR(x.row(i).norm(), r, tol * r) << "token " << i;
    for (Index j = i + 1; j < x.rows(); ++j)
      EXPECT_NEAR(x.row(i).normalized().dot(x.row(j).normalized()), rho, tol)
          << "pair " << i << "," << j;
  }
}

// An exactly equiangular start (init.kind = "equiangular", d = n) stays equiangular and follows
// the ODE, for every scheme and both kernels, with the dense reference above and with the engine
// (Dynamics with model.normalization). Tolerance: both sides DOPRI5 at rtol 1e-11 (and the ODE at
// 1e-12) over t ≤ 3 with Lipschitz constants O(1): ≲ 1e-9 on ρ and r/r0; we require 1e-8.
TEST(ReduceEquiangular, ParticlesFollowTheOdeForEveryScheme) {
  const Index n = 6;
  const double rho0 = 0.1, r0 = 1.7, beta = 1.5;
  const std::vector<double> times = grid(3.0, 6);
  IntegrateOptions popt = tight();
  popt.rtol = 1e-11;
  popt.atol = 1e-13;
  for (Normalization scheme : kSchemes) {
    for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
      SCOPED_TRACE(std::string(normalization_name(scheme)) +
                   (kernel == KernelKind::softmax ? " SA" : " USA"));
      EquiangularParams p = params(kernel, n, beta, scheme);
      // Mix-LN's switch at τ = 0.7 is not an output time; the integrators must not straddle it.
      std::vector<double> with_switch = times;
      with_switch.insert(with_switch.begin() + 2, 0.7);
      const auto frames = solve_equiangular(p, rho0, r0, with_switch, tight());
      ASSERT_EQ(frames.size(), with_switch.size());
      const Matrix x0 = r0 * equiangular_points(n, n, rho0);
      // Dense reference.
      DenseNormalizedParticles dense(p);
      Matrix x = x0;
      integrate(dense, x, with_switch, popt, [&](std::size_t k, double, const Matrix& s) {
        expect_equiangular(s, frames[k].rho, frames[k].r, 1e-8);
      });
      // The engine.
      Model model = identity_model(n, beta, kernel, Geometry::euclidean);
      model.normalization = scheme;
      model.mix_tau = p.mix_switch_time;
      model.ngpt_alpha = p.ngpt_alpha;
      const Measure m = uniform_measure(x0);
      Dynamics dyn(AttentionField(model, m.weights, m.positions), std::vector<double>(n, r0));
      x = x0;
      integrate(dyn, x, with_switch, popt, [&](std::size_t k, double, const Matrix& s) {
        expect_equiangular(s, frames[k].rho, frames[k].r, 1e-8);
      });
      EXPECT_GT(frames.back().rho, rho0 + 0.2);  // non-vacuous
    }
  }
}

// The hitting time comes from the inverse system dt/dρ = 1/ρ̇; the forward solution evaluated at
// that time must sit on the threshold (a second, independent route), for every scheme.
TEST(ReduceEquiangular, HittingTimeAgreesWithForwardIntegration) {
  for (Normalization scheme : kSchemes) {
    SCOPED_TRACE(std::string(normalization_name(scheme)));
    const EquiangularParams p = params(KernelKind::softmax, 9, 2.5, scheme);
    const double th = 0.99;
    const double t_hit = equiangular_hitting_time(p, 0.05, 1.2, th, tight());
    ASSERT_TRUE(std::isfinite(t_hit));
    const auto frames = solve_equiangular(p, 0.05, 1.2, {0.0, t_hit}, tight());
    EXPECT_NEAR(frames.back().rho, th, 1e-9);
  }
  // The regular simplex ρ0 = −1/(n−1) is an equilibrium: never reached; ρ0 above: 0.
  const EquiangularParams p = params(KernelKind::usa, 4, 1.0, Normalization::post_ln);
  EXPECT_TRUE(std::isinf(equiangular_hitting_time(p, -1.0 / 3.0, 1.0, 0.5, tight())));
  EXPECT_EQ(equiangular_hitting_time(p, 0.6, 1.0, 0.5, tight()), 0.0);
}

void expect_error(const std::function<void()>& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), text);
  }
}

TEST(ReduceEquiangular, RejectsBadInput) {
  EquiangularParams p = params(KernelKind::softmax, 1, 1.0, Normalization::post_ln);
  expect_error([&] { validate_equiangular(p, 0.0, 1.0); },
               "--n: the equiangular model needs n >= 2 tokens, got 1");
  p.n = 5;
  expect_error([&] { validate_equiangular(p, -0.3, 1.0); },
               "--rho0: must lie in (-1/(n-1), 1] = (-0.25, 1] for n = 5 (at -1/(n-1), the regular "
               "simplex, nothing moves), got -0.3");
  expect_error([&] { validate_equiangular(p, 1.5, 1.0); },
               "--rho0: must lie in (-1/(n-1), 1] = (-0.25, 1] for n = 5 (at -1/(n-1), the regular "
               "simplex, nothing moves), got 1.5");
  expect_error([&] { equiangular_hitting_time(p, 0.0, 1.0, 1.0, tight()); },
               "--threshold: must lie in (-1/(n-1), 1) = (-0.25, 1), got 1");
  p.scheme = Normalization::none;
  expect_error([&] { validate_equiangular(p, 0.0, 1.0); },
               "--normalization: the equiangular model needs a normalisation scheme (attention on "
               "directions); "
               "allowed: post_ln, pre_ln, mix_ln, peri_ln, ngpt, sqrt_scaling");
}

}  // namespace
