#pragma once
// Tokens on the circle S¹ (d = 2) as angles, and the mean-field continuity equation on S¹
// ([R] §"The Kuramoto connection", eq. (kuramoto); SPEC §3; derivations in
// docs/reduced_models.md §4).
//
// Particles (x_i = (cos θ_i, sin θ_i), Q = K = V = I, masses w_j):
//     θ̇_i = −Σ_j w_j e^{β cos(θ_i − θ_j)} sin(θ_i − θ_j) / Z_i                      (docs eq. C1)
// with Z_i = 1 (USA) or Z_i = Σ_j w_j e^{β cos(θ_i − θ_j)} (SA); β = 0 is the Kuramoto model.
// Mean field, for a density ρ(θ) with ∫ρ dθ = 1:
//     ∂_t ρ + ∂_θ(ρ u) = 0,   u = −(k ∗ ρ) / Z,   k(ψ) = e^{β cos ψ} sin ψ,
//     Z = 1 (USA) or (e^{β cos} ∗ ρ) (SA)                                          (docs eq. C2)
// Linear growth rate of the mode e^{imθ} around ρ = 1/(2π):
//     λ_m = (m/2)(I_{m−1}(β) − I_{m+1}(β)) = m² I_m(β)/β   (USA),   λ_m / I_0(β)   (SA)  (docs C3)
#include <complex>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnflow/integrator.hpp"
#include "attnflow/model.hpp"
#include "attnflow/ode_system.hpp"

namespace attnflow::reduce {

/// Largest β the circle solvers accept: e^β must stay finite in double precision.
inline constexpr double kCircleMaxBeta = 700.0;

/// Checks kernel ∈ {softmax, usa} and β ∈ [0, 700]; throws InputError(prefix.kernel | .beta).
void validate_circle_model(KernelKind kernel, double beta, const std::string& prefix = "model");

/// How CircleParticles runs.
struct CircleParticleOptions {
  /// USA in the time t' = e^β t, i.e. weights e^{β(cos − 1)} without the factor e^β: the clock
  /// of [R] §5.2 and Theorem 4 (plateaus last ~e^{β(1 − cos g)} in t'). It keeps every β finite
  /// (e^β overflows beyond β ≈ 709). SA is unaffected (e^β cancels in the softmax).
  bool usa_rescaled_time = false;
  /// After every step, tokens closer than this (rad, single linkage) are put at their
  /// mass-weighted mean, the point their mutual attraction conserves (0: never). Coincident
  /// tokens stay coincident under the exact flow; snapping makes them bitwise equal, so that their
  /// mutual terms vanish exactly (sin 0 = 0) and the exponentially small pull of the other
  /// clusters is resolved instead of rounding noise. [R] §5.2 snaps at 1e-3 rad.
  double snap_distance = 0.0;
};

/// The particle angle dynamics of docs eq. C1 on an N×1 state (dense O(N²), OpenMP over tokens,
/// each token's sum in a fixed order: results do not depend on the thread count). Each pair's
/// sin(θ_i − θ_j) is formed before it is weighted, so the terms of coincident tokens are exactly 0.
class CircleParticles : public OdeSystem {
 public:
  /// `weights` are the token masses (sum 1); empty means uniform 1/N. β ∈ [0, 700] for USA in
  /// its own time, any finite β ≥ 0 otherwise (validate_circle_particles).
  CircleParticles(KernelKind kernel, double beta, std::vector<double> weights = {},
                  CircleParticleOptions options = {});
  /// v = θ̇ of docs eq. C1 ([R] eq. (kuramoto) for USA) for the N×1 angles x.
  void velocity(double t, const Matrix& x, Matrix& v) override;
  /// Snaps close tokens together (options.snap_distance > 0); leaves x untouched otherwise.
  void retract(Matrix& x) override;
  /// Number of velocity evaluations so far.
  std::uint64_t evaluations() const override { return evaluations_; }
  /// The token masses (uniform 1/N until the first evaluation when constructed without them).
  const std::vector<double>& weights() const { return weights_; }

 private:
  KernelKind kernel_;
  double beta_;
  std::vector<double> weights_;
  CircleParticleOptions options_;
  std::vector<double> cos_, sin_;
  std::uint64_t evaluations_ = 0;
};

/// Largest β CircleParticles accepts with usa_rescaled_time or softmax (e^{β(cos − 1)} is
/// computed directly; beyond this every distinct pair's weight underflows).
inline constexpr double kCircleParticleMaxBeta = 1e6;

/// Checks kernel ∈ {softmax, usa} and β: [0, 700] for USA in its own time, [0, 1e6] otherwise;
/// throws InputError(prefix.kernel | .beta).
void validate_circle_particles(KernelKind kernel, double beta, bool usa_rescaled_time,
                               const std::string& prefix = "model");

/// Puts every group of tokens closer than `distance` (circular distance, single linkage) at the
/// group's mass-weighted mean angle, the same double for all members; groups whose members are
/// already equal are left untouched. Returns the number of groups moved.
Index circle_snap(Matrix& angles, const std::vector<double>& weights, double distance);

/// Sizes of the groups of tokens closer than `distance` (single linkage on the circle), largest
/// first: the cluster pattern, e.g. (3, 2).
std::vector<Index> circle_cluster_sizes(const Matrix& angles, double distance);

/// [R]'s normalised energy Σ_ij w_i w_j e^{β(cos(θ_i − θ_j) − 1)} (= (1/n²) Σ_ij ... for uniform
/// masses; Σ_a m_a² on a configuration of clusters of masses m_a as β → ∞).
double circle_normalized_energy(const Matrix& angles, const std::vector<double>& weights,
                                double beta);

/// Smallest number of cells for a given β: four cells across the kernel width 1/√β, i.e.
/// M ≥ 8π√β, and never fewer than 16 (docs §4.3).
Index circle_min_cells(double beta);

/// Throws InputError("grid.cells", "a grid of M cells is too coarse for beta = β: ...; use cells >=
/// M_min") when cells < circle_min_cells(β).
void validate_circle_cells(double beta, Index cells);

/// Finite-volume solver of docs eq. C2 on M uniform cells [kΔθ, (k+1)Δθ), Δθ = 2π/M, state M×1
/// of cell averages. Face velocities u_{k+1/2} are exact circular convolutions of the cell
/// averages with the kernel sampled at face − centre offsets (FFTW); fluxes are upwind with
/// MC-limited linear reconstruction, so that with SSP time stepping and λ max|u| ≤ 1/2 the scheme
/// is conservative (telescoping fluxes) and positivity preserving (docs §4.2).
class CirclePde : public OdeSystem {
 public:
  /// Throws InputError("grid.cells", ...) when cells < circle_min_cells(β).
  CirclePde(KernelKind kernel, double beta, Index cells);
  ~CirclePde() override;
  CirclePde(const CirclePde&) = delete;
  CirclePde& operator=(const CirclePde&) = delete;

  /// M, the number of cells.
  Index cells() const { return cells_; }
  /// Δθ = 2π/M.
  double cell_width() const { return width_; }
  /// softmax (SA) or usa.
  KernelKind kernel() const { return kernel_; }
  /// The inverse temperature β.
  double beta() const { return beta_; }

  /// u at the faces θ_{k+1/2} = (k+1)Δθ, k = 0..M−1 (docs eq. C2).
  void face_velocity(const double* rho, double* u);
  /// u at the cell centres θ_k = (k+½)Δθ.
  void centre_velocity(const double* rho, double* u);
  /// dρ_k/dt = −(F_{k+1/2} − F_{k−1/2}) / Δθ.
  void velocity(double t, const Matrix& x, Matrix& v) override;
  /// Number of right-hand-side evaluations so far.
  std::uint64_t evaluations() const override { return evaluations_; }

  /// Λ = max_m λ_m (docs eq. C3): the fastest linear growth rate, the time scale near ρ = 1/(2π).
  double max_growth_rate() const { return max_rate_; }
  /// The largest stable step cfl·Δθ / max_k |u_{k+1/2}| (+∞ when u ≡ 0).
  double stable_step(const Matrix& rho, double cfl);
  /// ∫ρ dθ = Δθ Σ_k ρ_k.
  double mass(const Matrix& rho) const;
  /// E_β(ρ) − 1/(2β) = ∬ (e^{β cos(θ−φ)} − 1)/(2β) ρ(θ)ρ(φ) dθ dφ ([R] eq. (E) shifted by a
  /// constant so that it has the limit ½|∫ e^{iθ}ρ|² at β = 0), midpoint rule on the cells.
  double energy(const Matrix& rho);
  /// ∫ ρ u² dθ at the cell centres: dE/dt along USA ([R]: the Wasserstein gradient flow of E_β).
  double energy_rate(const Matrix& rho);

 private:
  void convolve(const double* rho, const std::vector<std::complex<double>>& kernel_hat,
                double* out);
  KernelKind kernel_;
  double beta_;
  Index cells_;
  double width_;
  double max_rate_ = 0.5;
  std::uint64_t evaluations_ = 0;
  struct Fft;
  std::unique_ptr<Fft> fft_;
  std::vector<std::complex<double>> sine_face_, exp_face_, sine_centre_, exp_centre_,
      energy_centre_;
  std::vector<double> work_, work2_, slope_, flux_;
};

/// Integrates the PDE with the three-stage SSP Runge–Kutta method of Shu & Osher (each stage a
/// convex combination of Euler steps, hence positivity preserving under the CFL condition) through
/// `times`, with dt = min(stable_step(cfl), 0.05/Λ, time to the next output) (Λ =
/// max_growth_rate(): resolves the linear instability, where velocities are still small); a step
/// is halved and retried if a stage would violate dt max|u| ≤ Δθ/2. cfl must lie in (0, 0.5].
IntegrateStats integrate_ssprk3(CirclePde& pde, Matrix& rho, const std::vector<double>& times,
                                double cfl, const Observer& observe,
                                std::uint64_t max_steps = 100'000'000);

/// λ_m of docs eq. C3 (m ≥ 1): the linear growth rate of cos(mθ) around the uniform density.
double circle_growth_rate(KernelKind kernel, double beta, int m);
/// argmax_m λ_m over 1 ≤ m ≤ m_max: the number of clusters that first appear from a generic small
/// perturbation of the uniform density.
int circle_most_unstable_mode(KernelKind kernel, double beta, int m_max);

/// An initial density on S¹: 1/(2π)(1 + Σ ε_k cos(m_k θ + φ_k)) or a von Mises mixture
/// Σ_k w_k e^{κ_k cos(θ − c_k)} / (2π I_0(κ_k)).
struct CircleDensity {
  enum class Kind { perturbed_uniform, von_mises } kind = Kind::perturbed_uniform;
  std::vector<int> modes;          ///< perturbed_uniform: m_k ≥ 1
  std::vector<double> amplitudes;  ///< perturbed_uniform: ε_k, Σ|ε_k| < 1
  std::vector<double> phases;      ///< perturbed_uniform: φ_k
  std::vector<double> centers;     ///< von_mises: c_k
  std::vector<double> kappas;      ///< von_mises: κ_k ∈ [0, 500]
  std::vector<double> weights;     ///< von_mises: w_k ≥ 0 (normalised to sum 1)

  /// ρ(θ) (normalised to mass 1).
  double operator()(double theta) const;
};

/// Checks a density (list lengths, Σ|ε| < 1, m ≥ 1, κ ∈ [0, 500], weights ≥ 0 with positive sum);
/// throws InputError("init.<key>", ...).
void validate_circle_density(const CircleDensity& density);

/// Cell averages of the density on M cells (8-point Gauss–Legendre per cell).
Matrix circle_cell_averages(const CircleDensity& density, Index cells);

/// N angles with law ρ: θ_i = F⁻¹(u_i), u_i i.i.d. uniform (seeded Rng) or, with `quantile`,
/// u_i = (i + ½)/N. F is inverted by bisection on Gauss–Legendre quadrature (to ~1e-13 rad).
Matrix circle_sample(const CircleDensity& density, Index n, std::uint64_t seed, bool quantile);

/// W1 on S¹ between a piecewise-constant density (cell averages) and weighted particles:
/// min_c ∫ |F − G − c| dθ with F, G the cumulative distributions from θ = 0 (exact integral of
/// the piecewise-linear F − G; c the median of F − G).
double circle_w1(const Matrix& rho, const Matrix& angles, const std::vector<double>& weights = {});

/// |∫ e^{iθ} ρ dθ| (exact for the piecewise-constant density): the Kuramoto order parameter.
double circle_order_parameter(const Matrix& rho);
/// |Σ_i w_i e^{iθ_i}| of particles.
double circle_order_parameter_particles(const Matrix& angles,
                                        const std::vector<double>& weights = {});

}  // namespace attnflow::reduce
