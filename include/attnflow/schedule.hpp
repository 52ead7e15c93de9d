#pragma once
// Weights that change with depth ([M]: per-head, per-layer, time-dependent weights). A schedule is
// a matrix-valued function of time t (= depth); the model's matrices and β can each follow one.
#include <cstdint>
#include <memory>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow {

/// A matrix-valued function of time.
class MatrixSchedule {
 public:
  /// M(t) = m.
  static MatrixSchedule constant(Matrix m);
  /// M(t) = layers[⌊t / layer_time⌋] (the last layer beyond the end): weights per layer.
  static MatrixSchedule per_layer(std::vector<Matrix> layers, double layer_time);
  /// M(t) = base + amplitude · sin(ω t + φ) ([M]'s oscillating weights).
  static MatrixSchedule sinusoid(Matrix base, Matrix amplitude, double omega, double phase);
  /// Entrywise M_ab(t) = base_ab + amplitude_ab · sin(ω_ab t + φ_ab) (omega, phase: matrices).
  static MatrixSchedule sinusoid(Matrix base, Matrix amplitude, Matrix omega, Matrix phase);
  /// The solution of dM/dt = r (F(t) − M), M(0) = initial, driven by the entrywise sinusoid
  /// F(t) = base + amplitude · sin(ω t + φ) ([M]'s oscillating regime dD/dt = F(t) − D, r = 1):
  ///   M(t) = P(t) + e^{−r t} (initial − P(0)),
  ///   P_ab(t) = base_ab + amplitude_ab · r/(r² + ω_ab²) · (r sin(ω_ab t + φ_ab) − ω_ab cos(...)),
  /// P being the periodic solution (substitute: P' = r(F − P)).
  static MatrixSchedule relaxation(Matrix initial, double rate, Matrix base, Matrix amplitude,
                                   Matrix omega, Matrix phase);
  /// An Ornstein–Uhlenbeck path dM = −θ(M − M̄) dt + σ dB started at `initial`, sampled exactly on
  /// the grid t_k = k·dt (M_{k+1} = M̄ + e^{−θ dt}(M_k − M̄) + σ √((1 − e^{−2θ dt})/(2θ)) Z_k,
  /// Z_k standard normal from Rng(seed)) up to t_end, and linearly interpolated in between, so that
  /// adaptive integrators see a continuous path. symmetric: Z is symmetrised, (Z + Zᵀ)/√2 ([M]).
  static MatrixSchedule ornstein_uhlenbeck(Matrix initial, Matrix mean, double theta, double sigma,
                                           double dt, double t_end, std::uint64_t seed,
                                           bool symmetric);

  /// M(t).
  Matrix at(double t) const;
  /// dM/dt at t: analytic for sinusoids and relaxations, 0 for constants and inside a layer of
  /// per-layer weights (the jumps are not differentiable; integrators stop there), the slope of the
  /// current grid cell for OU paths. Where t is a grid point of an OU path (a kink, within 1e-9
  /// of a cell), the one-sided derivative on the side of `piece` is taken: pass a time inside the
  /// step or interval being integrated (e.g. its middle).
  Matrix derivative(double t, double piece) const;
  /// Whether M(t) is the same for all t.
  bool is_constant() const { return kind_ == Kind::constant; }
  /// Times in (0, t_end) where M jumps (per-layer boundaries): integrators stop there.
  std::vector<double> jumps(double t_end) const;
  /// Times in (0, t_end) where M is continuous but dM/dt jumps (the grid points of OU paths).
  std::vector<double> kinks(double t_end) const;
  /// Shape of every M(t).
  Index rows() const { return shape_.rows(); }
  Index cols() const { return shape_.cols(); }

 private:
  enum class Kind { constant, per_layer, sinusoid, relaxation, grid };
  /// The periodic part P(t) of a relaxation (or the target F(t) when `target`).
  Matrix periodic(double t, bool target) const;

  Kind kind_ = Kind::constant;
  /// constant: 1; per_layer: layers; sinusoid: base, amplitude, ω, φ; relaxation: base, amplitude,
  /// ω, φ, initial; grid: samples.
  std::vector<Matrix> values_;
  double step_ = 1.0;  ///< per_layer: layer_time; grid: dt; relaxation: rate r
  Matrix shape_;
};

/// Schedules for one head's Q, K, V and W (W may be an empty constant: the identity).
struct HeadSchedule {
  MatrixSchedule Q, K, V, W;
};

/// Constant offsets added to one head's scheduled Q, K, V, W (an empty matrix: none). They carry a
/// perturbation of time-dependent weights ([M]'s stability under perturbed weights: M(t) + εΞ).
struct HeadOffsets {
  Matrix Q, K, V, W;
};

/// Time-dependent weights of a whole model: one HeadSchedule per head and β(t) (a 1×1 schedule).
struct ModelSchedule {
  std::vector<HeadSchedule> heads;
  MatrixSchedule beta;
  std::vector<HeadOffsets> offsets;  ///< one per head, or empty (no offsets)

  /// Whether anything depends on time.
  bool is_constant() const;
  /// Union of every schedule's jumps in (0, t_end), sorted.
  std::vector<double> jumps(double t_end) const;
  /// Union of every schedule's jumps and kinks in (0, t_end), sorted: where the weights stop being
  /// smooth in t, so that ODE integrators keep their order by stopping there.
  std::vector<double> breakpoints(double t_end) const;
};

}  // namespace attnflow
