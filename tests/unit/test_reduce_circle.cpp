// Tokens on the circle and the mean-field PDE on S¹ (docs/reduced_models.md §4): the angle
// dynamics against the sphere engine at d = 2, the FFT convolution against a direct sum, mass
// conservation to round-off, positivity, second order under refinement, the Bessel growth rates,
// the most unstable mode, W1 closed forms and particles converging to the PDE.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/reduce/circle.hpp"
#include "attnflow/rng.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::reduce;
constexpr double kTwoPi = 2.0 * std::numbers::pi;

/// Complex Fourier coefficient ∫ρ e^{−imθ} dθ of cell averages (exact up to the cell-average
/// factor sinc(mΔθ/2), which is constant in time).
std::complex<double> fourier(const Matrix& rho, int m) {
  const Index n = rho.rows();
  const double h = kTwoPi / static_cast<double>(n);
  std::complex<double> z = 0.0;
  for (Index k = 0; k < n; ++k)
    z += rho(k, 0) * std::polar(h, -m * (static_cast<double>(k) + 0.5) * h);
  return z;
}

/// Runs the PDE through `times` with SSP-RK3 and returns the state at each time.
std::vector<Matrix> run_pde(CirclePde& pde, Matrix rho, const std::vector<double>& times,
                            double cfl = 0.4) {
  std::vector<Matrix> frames;
  integrate_ssprk3(pde, rho, times, cfl,
                   [&](std::size_t, double, const Matrix& r) { frames.push_back(r); });
  return frames;
}

// d = 2 with Q = K = V = I: x = (cos θ, sin θ), the tangent e_θ = (−sin θ, cos θ) and
// ⟨x_j, e_θi⟩ = sin(θ_j − θ_i), so θ̇_i = ⟨ẋ_i, e_θi⟩ = −Σ_j a_ij sin(θ_i − θ_j) ([R] eq. kuramoto):
// the circle system must reproduce the sphere engine's tangent velocity. Tolerance: both sum N = 40
// terms of size ≤ e^{β}/N in different orders: 1e-13 · e^β.
TEST(ReduceCircle, AnglesMatchTheSphereEngineInTwoDimensions) {
  const Index n = 40;
  Rng rng(3);
  Matrix theta(n, 1), x(n, 2);
  for (Index i = 0; i < n; ++i) {
    theta(i, 0) = kTwoPi * rng.uniform();
    x(i, 0) = std::cos(theta(i, 0));
    x(i, 1) = std::sin(theta(i, 0));
  }
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    for (double beta : {0.0, 2.5}) {
      CircleParticles circle(kernel, beta);
      Matrix dtheta;
      circle.velocity(0.0, theta, dtheta);
      const Measure m = uniform_measure(x);
      Dynamics sphere(AttentionField(identity_model(2, beta, kernel, Geometry::sphere), m.weights,
                                     m.positions));
      Matrix v;
      sphere.velocity(0.0, x, v);
      for (Index i = 0; i < n; ++i) {
        const double tangential = -v(i, 0) * x(i, 1) + v(i, 1) * x(i, 0);
        EXPECT_NEAR(dtheta(i, 0), tangential, 1e-13 * std::exp(beta)) << "token " << i;
      }
    }
  }
}

// The face velocity is the circular convolution u_{k+1/2} = −Σ_j k((k − j + ½)Δθ) ρ_j Δθ (/ the
// same with e^{β cos} for SA); the FFT must reproduce the direct O(M²) sum (orientation, half-cell
// shift and normalisation of the transforms): 1e-13 relative to max|u|.
TEST(ReduceCircle, FftVelocityEqualsTheDirectSum) {
  const Index cells = 96;
  const double h = kTwoPi / static_cast<double>(cells);
  Rng rng(5);
  Matrix rho(cells, 1);
  for (Index k = 0; k < cells; ++k) rho(k, 0) = rng.uniform();
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    const double beta = 3.0;
    CirclePde pde(kernel, beta, cells);
    std::vector<double> u(cells);
    pde.face_velocity(rho.data(), u.data());
    double umax = 0.0;
    for (double x : u) umax = std::max(umax, std::fabs(x));
    for (Index k = 0; k < cells; ++k) {
      double num = 0.0, den = 0.0;
      for (Index j = 0; j < cells; ++j) {
        const double psi = (static_cast<double>(k - j) + 0.5) * h;
        num += std::exp(beta * std::cos(psi)) * std::sin(psi) * rho(j, 0) * h;
        den += std::exp(beta * std::cos(psi)) * rho(j, 0) * h;
      }
      const double expected = kernel == KernelKind::usa ? -num : -num / den;
      EXPECT_NEAR(u[static_cast<std::size_t>(k)], expected, 1e-13 * umax) << "face " << k;
    }
  }
}

// Mass: Σ_k (F_{k+1/2} − F_{k−1/2}) telescopes, so only rounding changes Δθ Σ ρ_k. Per SSP-RK3 step
// three updates of M cells each round with relative eps: |Δmass| ≤ 3 · 2π · eps · max ρ per step.
TEST(ReduceCircle, MassIsConservedToRoundOff) {
  CircleDensity d;
  d.kind = CircleDensity::Kind::von_mises;
  d.centers = {0.5, 3.0};
  d.kappas = {8.0, 20.0};
  d.weights = {0.3, 0.7};
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    // USA velocities carry e^β (times ∫e^{β(cos−1)}… ~ β^{-1}): its time scale is ~β e^{−β}.
    const double beta = 9.0, scale = kernel == KernelKind::usa ? 10.0 * std::exp(-beta) : 1.0;
    CirclePde pde(kernel, beta, 256);
    Matrix rho = circle_cell_averages(d, 256);
    const double mass0 = pde.mass(rho);
    EXPECT_NEAR(mass0, 1.0, 1e-12);  // Gauss–Legendre cell averages of a normalised density
    double max_rho = rho.maxCoeff(), worst = 0.0;
    const IntegrateStats stats = integrate_ssprk3(
        pde, rho, {0.0, scale, 2.0 * scale}, 0.4, [&](std::size_t, double, const Matrix& r) {
          max_rho = std::max(max_rho, r.maxCoeff());
          worst = std::max(worst, std::fabs(pde.mass(r) - mass0));
        });
    const double eps = std::numeric_limits<double>::epsilon();
    EXPECT_LE(worst, static_cast<double>(stats.steps) * 3.0 * kTwoPi * eps * max_rho);
    EXPECT_GT(stats.steps, 50u);
  }
}

// Positivity (docs §4.2): a density that vanishes on half the circle and a sharp bump, at β = 20
// where velocities are large: with the MC-limited reconstruction, face values lie between
// neighbouring averages, so each Euler stage is a combination with non-negative coefficients
// when dt max|u| ≤ Δθ/2, and SSP-RK3 is a convex combination of such stages. Exact zeros stay ≥ 0
// (an unlimited centred reconstruction undershoots at the edge of the support).
TEST(ReduceCircle, DensityStaysNonNegative) {
  const Index cells = 256;
  Matrix rho = Matrix::Zero(cells, 1);
  for (Index k = 0; k < cells / 2; ++k) rho(k, 0) = 1.0 + std::sin(0.3 * static_cast<double>(k));
  rho(cells / 4, 0) += 30.0;
  rho /= rho.sum() * kTwoPi / static_cast<double>(cells);
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    const double beta = 20.0;
    // USA velocities carry e^β (times ∫e^{β(cos−1)}… ~ β^{-1}): its time scale is ~β e^{−β}.
    const double scale = kernel == KernelKind::usa ? 10.0 * std::exp(-beta) : 1.0;
    CirclePde pde(kernel, beta, cells);
    Matrix r0 = rho;
    double minimum = 1.0;
    const IntegrateStats stats = integrate_ssprk3(
        pde, r0, {0.0, 0.5 * scale, 1.5 * scale, 3.0 * scale}, 0.5,
        [&](std::size_t, double, const Matrix& r) { minimum = std::min(minimum, r.minCoeff()); });
    EXPECT_GE(minimum, 0.0);
    EXPECT_GT(stats.steps, 20u);
    EXPECT_GT((r0 - rho).cwiseAbs().maxCoeff(), 0.5 * rho.maxCoeff());  // mass moved
  }
}

// Second order (docs §4.2): velocities are spectrally accurate convolutions of O(Δθ²)-accurate
// point values, the MC reconstruction is second order away from extrema, SSP-RK3 third order in
// time. At extrema the limiter clips to first order on O(Δθ) of the domain, costing O(Δθ²) in L1:
// the L1 error against a 16× finer grid (restricted by exact cell averaging) must fall with an
// observed order ≥ 1.8 per refinement from 64 to 256 cells (measured ≈ 2).
TEST(ReduceCircle, SecondOrderUnderGridRefinement) {
  CircleDensity d;
  d.modes = {1, 2};
  d.amplitudes = {0.3, 0.2};
  d.phases = {0.0, 1.0};
  const double t_end = 0.5;
  const Index fine = 2048;
  CirclePde ref_pde(KernelKind::softmax, 2.0, fine);
  const Matrix ref = run_pde(ref_pde, circle_cell_averages(d, fine), {0.0, t_end}, 0.2).back();
  std::vector<double> errors;
  for (Index cells : {64, 128, 256}) {
    CirclePde pde(KernelKind::softmax, 2.0, cells);
    const Matrix rho = run_pde(pde, circle_cell_averages(d, cells), {0.0, t_end}, 0.2).back();
    const Index ratio = fine / cells;
    double err = 0.0;
    for (Index k = 0; k < cells; ++k)
      err += std::fabs(rho(k, 0) - ref.block(k * ratio, 0, ratio, 1).mean());
    errors.push_back(err * kTwoPi / static_cast<double>(cells));
  }
  for (std::size_t k = 1; k < errors.size(); ++k) {
    const double order = std::log2(errors[k - 1] / errors[k]);
    EXPECT_GE(order, 1.8) << errors[k - 1] << " -> " << errors[k];
  }
}

// Linear theory (docs §4.4): ρ = 1/(2π)(1 + ε cos mθ) with ε = 1e-6 grows like e^{λ_m t},
//   λ_m = (m/2)(I_{m−1}(β) − I_{m+1}(β))  (USA),   λ_m / I_0(β)  (SA),
// from std::cyl_bessel_i, independent of the FFT solver. Over t = 0.3 the nonlinear correction is
// O(ε e^{λt}) ≈ 1e-5 relative in amplitude, 3e-5 in the rate; the scheme's error is O((mΔθ)²): at
// 256 cells it measures 4.0e-4 relative for m = 4, hence ≈ 2.5e-5 at 1024 cells (measured
// 2.7e-5). We require 1e-4 relative, plus 1e-6 absolute for the neutral modes (β = 0, m ≥ 2).
TEST(ReduceCircle, LinearGrowthRatesMatchTheBesselFormula) {
  const Index cells = 1024;
  const double t = 0.3;
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    for (double beta : {0.0, 4.0}) {
      CirclePde pde(kernel, beta, cells);
      for (int m = 1; m <= 4; ++m) {
        CircleDensity d;
        d.modes = {m};
        d.amplitudes = {1e-6};
        const std::vector<Matrix> frames = run_pde(pde, circle_cell_averages(d, cells), {0.0, t});
        const double measured =
            std::log(std::abs(fourier(frames[1], m)) / std::abs(fourier(frames[0], m))) / t;
        const double expected = circle_growth_rate(kernel, beta, m);
        EXPECT_NEAR(measured, expected, 1e-4 * std::fabs(expected) + 1e-6)
            << (kernel == KernelKind::usa ? "USA" : "SA") << " beta = " << beta << " m = " << m;
      }
    }
  }
  // β = 0 is Kuramoto: only m = 1 grows, at rate 1/2 (K/2 for coupling K = 1).
  EXPECT_DOUBLE_EQ(circle_growth_rate(KernelKind::usa, 0.0, 1), 0.5);
  EXPECT_EQ(circle_growth_rate(KernelKind::usa, 0.0, 2), 0.0);
}

// "How many clusters first appear": from a perturbation of equal amplitude in modes 1..12, the
// PDE's dominant mode once the perturbation has grown ×10⁴ is argmax_m λ_m (USA, β = 4: m* = 3,
// λ_3 = 7.51 against the runner-up λ_2 = 6.42, so after ln(10⁴)/λ_3 = 1.23 their amplitudes differ
// by e^{1.09·1.23} ≈ 3.8 from equal starts).
TEST(ReduceCircle, MostUnstableModeDominatesFromAGenericPerturbation) {
  const double beta = 4.0;
  const int expected = circle_most_unstable_mode(KernelKind::usa, beta, 64);
  EXPECT_EQ(expected, 3);
  CircleDensity d;
  for (int m = 1; m <= 12; ++m) {
    d.modes.push_back(m);
    d.amplitudes.push_back(1e-7);
    d.phases.push_back(0.7 * m);
  }
  CirclePde pde(KernelKind::usa, beta, 1024);
  const double t = std::log(1e4) / circle_growth_rate(KernelKind::usa, beta, expected);
  const Matrix rho = run_pde(pde, circle_cell_averages(d, 1024), {0.0, t}).back();
  int best = 1;
  for (int m = 2; m <= 12; ++m)
    if (std::abs(fourier(rho, m)) > std::abs(fourier(rho, best))) best = m;
  EXPECT_EQ(best, expected);
}

// W1 on S¹ closed forms: (1) uniform density against N particles at (i + ½)2π/N: F − G is a
// sawtooth of amplitude 1/(2N) with median 0, so W1 = 2π · 1/(4N) = π/(2N); (2) uniform against a
// Dirac at 0: W1 = mean geodesic distance = π/2.
TEST(ReduceCircle, W1ClosedForms) {
  const Matrix uniform = Matrix::Constant(64, 1, 1.0 / kTwoPi);
  for (Index n : {1, 7, 50}) {
    Matrix theta(n, 1);
    for (Index i = 0; i < n; ++i)
      theta(i, 0) = (static_cast<double>(i) + 0.5) * kTwoPi / static_cast<double>(n);
    EXPECT_NEAR(circle_w1(uniform, theta), std::numbers::pi / (2.0 * static_cast<double>(n)), 1e-12)
        << n;
  }
  EXPECT_NEAR(circle_w1(uniform, Matrix::Zero(3, 1)), std::numbers::pi / 2.0, 1e-12);
  // Rotating everything (density by whole cells, particles alike) leaves W1 unchanged.
  Matrix bumpy(64, 1);
  for (Index k = 0; k < 64; ++k)
    bumpy(k, 0) = (1.0 + 0.5 * std::cos(0.1 * static_cast<double>(k * k))) / kTwoPi;
  bumpy /= bumpy.sum() * kTwoPi / 64.0;
  Matrix theta(5, 1);
  theta << 0.1, 1.0, 2.5, 4.0, 6.0;
  Matrix shifted(64, 1);
  for (Index k = 0; k < 64; ++k) shifted((k + 8) % 64, 0) = bumpy(k, 0);
  EXPECT_NEAR(circle_w1(bumpy, theta),
              circle_w1(shifted, (theta.array() + 8.0 * kTwoPi / 64.0).matrix()), 1e-12);
}

// Mean-field limit: N particles sampled i.i.d. from ρ0 follow the same equation for their empirical
// measure, so W1(PDE, particles) at t = 1 is the initial sampling error (O(N^{-1/2})) carried by a
// stable flow (β = 1, one cluster forming), plus the PDE's O(Δθ²) ≈ 1e-5 at 1024 cells. From N = 25
// (16 seeds) to N = 400 (4 seeds) the average must fall by about √16 = 4: we require a ratio in
// [2.5, 6.4] (the seed averages fluctuate by ≲ 30 %). RK4 at dt = 0.1: time error ≲ 1e-5.
TEST(ReduceCircle, ParticlesConvergeToThePdeAsNGrows) {
  CircleDensity d;
  d.modes = {1, 3};
  d.amplitudes = {0.4, 0.2};
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::usa}) {
    CirclePde pde(kernel, 1.0, 1024);
    const Matrix rho = run_pde(pde, circle_cell_averages(d, 1024), {0.0, 1.0}).back();
    auto error = [&](Index n, int seeds) {
      double total = 0.0;
      for (int seed = 0; seed < seeds; ++seed) {
        Matrix theta = circle_sample(d, n, 10 + static_cast<std::uint64_t>(seed), false);
        CircleParticles particles(kernel, 1.0);
        IntegrateOptions opt;
        opt.method = Method::rk4;
        opt.dt = 0.1;
        integrate(particles, theta, {0.0, 1.0}, opt, [](std::size_t, double, const Matrix&) {});
        total += circle_w1(rho, theta);
      }
      return total / seeds;
    };
    const double coarse = error(25, 16), fine = error(400, 4);
    EXPECT_GT(coarse / fine, 2.5) << coarse << " -> " << fine;
    EXPECT_LT(coarse / fine, 6.4) << coarse << " -> " << fine;
  }
}

// With USA the PDE is the Wasserstein gradient (ascent) flow of E_β ([R]): dE/dt = ∫ρu². A centred
// difference of the energy over ±0.01 (error O(10⁻⁴) relative) against the dissipation at the
// centre, at 512 cells (O(Δθ²) ≈ 1.5e-4 relative): 2e-3 relative.
TEST(ReduceCircle, UsaEnergyRateEqualsTheDissipation) {
  CircleDensity d;
  d.modes = {2};
  d.amplitudes = {0.3};
  CirclePde pde(KernelKind::usa, 3.0, 512);
  const std::vector<Matrix> f =
      run_pde(pde, circle_cell_averages(d, 512), {0.0, 0.29, 0.3, 0.31}, 0.2);
  const double rate = (pde.energy(f[3]) - pde.energy(f[1])) / 0.02;
  const double dissipation = pde.energy_rate(f[2]);
  EXPECT_GT(dissipation, 0.0);
  EXPECT_NEAR(rate, dissipation, 2e-3 * dissipation);
  // β → 0 limit of the shifted energy: ½ |∫ e^{iθ} ρ|² (docs §4.1). For cell averages of
  // (1 + 0.3 cos θ)/2π, ρ_k = (1 + 0.3 s cos θ_k)/2π with s = sinc(Δθ/2) = sin(Δθ/2)/(Δθ/2); the
  // piecewise-constant density then has |∫e^{iθ}ρ| = 0.15 s² exactly, and the midpoint-rule energy
  // ½ |Σ_k ρ_k Δθ e^{iθ_k}|² = ½ (0.15 s)².
  CircleDensity one;
  one.modes = {1};
  one.amplitudes = {0.3};
  CirclePde kuramoto(KernelKind::usa, 0.0, 128);
  const Matrix rho = circle_cell_averages(one, 128);
  const double half = 0.5 * kTwoPi / 128.0, sinc = std::sin(half) / half;
  EXPECT_NEAR(circle_order_parameter(rho), 0.15 * sinc * sinc, 1e-14);
  EXPECT_NEAR(kuramoto.energy(rho), 0.5 * (0.15 * sinc) * (0.15 * sinc), 1e-14);
}

void expect_error(const std::function<void()>& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), text);
  }
}

TEST(ReduceCircle, RejectsBadInput) {
  expect_error([] { validate_circle_cells(100.0, 64); },
               "grid.cells: a grid of 64 cells is too coarse for beta = 100: the kernel exp(beta "
               "cos) has width "
               "1/sqrt(beta) = 0.1 rad and needs 4 cells across it; use cells >= 252");
  expect_error([] { validate_circle_cells(0.0, 8); },
               "grid.cells: a grid of 8 cells is too coarse for beta = 0; use cells >= 16");
  expect_error(
      [] { validate_circle_model(KernelKind::l2, 1.0); },
      "model.kernel: the circle dynamics is defined for softmax (SA) and usa ([R] eq. (kuramoto)); "
      "allowed: softmax, usa");
  expect_error([] { validate_circle_model(KernelKind::usa, 800.0); },
               "model.beta: must lie in [0, 700] (beta = 0 is the Kuramoto model; e^beta must stay "
               "finite), got 800");
  CircleDensity d;
  d.modes = {1, 2};
  d.amplitudes = {0.6, -0.5};
  expect_error([&] { validate_circle_density(d); },
               "init.amplitudes: the sum of |amplitudes| must be < 1 so that the density stays "
               "positive, got 1.1");
}

}  // namespace
