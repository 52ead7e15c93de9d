#pragma once
// The particle system: the attention field with its geometry and normalisation scheme applied,
// optionally with noise.
#include <cstdint>
#include <limits>
#include <vector>

#include "attnflow/attention_field.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/ode_system.hpp"
#include "attnflow/rng.hpp"

namespace attnflow {

/// ẋ = F(t, x) for every normalisation scheme (model.hpp, Normalization):
///   none        ẋ = A(x)                      ([C] Transformer PDE)
///   post_ln     ẋ = r P⊥_θ A(θ)               ([B], [R]; r = 1 on the sphere)
///   pre_ln      ẋ = A(θ)                      (ṙ = ⟨θ, A⟩, θ̇ = P⊥A / r)
///   mix_ln      post_ln for t < τ, pre_ln after
///   peri_ln     ẋ = A(θ)/‖A(θ)‖
///   ngpt        ẋ = r α P⊥_θ A(θ)/‖A(θ)‖
///   sqrt_scaling ẋ = r P⊥_θ A(θ)/√(t+1)
/// with θ = x/|x|, r = |x| and A the attention field evaluated at the directions.
class Dynamics : public OdeSystem {
 public:
  /// radii: |x_i(0)|, kept fixed by the schemes with ṙ = 0 (empty: all 1).
  explicit Dynamics(AttentionField field, std::vector<double> radii = {});

  Geometry geometry() const { return field_.model().geometry; }
  Normalization normalization() const { return effective_normalization(field_.model()); }
  const AttentionField& field() const { return field_; }
  /// Sets time-dependent weights to their values at t (for observers).
  void set_time(double t) { field_.set_time(t); }

  /// v = F(t, x).
  void velocity(double t, const Matrix& x, Matrix& v) override;
  /// a = A(x): the raw attention output at x itself (the residual branch of a layer).
  void attention(double t, const Matrix& x, Matrix& a);
  /// One discrete layer of the scheme with step h (h = 1: a real layer), plus, with noise, the
  /// Brownian increment √(2h/κ) ξ (Euler–Maruyama; on the sphere projected, then renormalised,
  /// which supplies the Itô drift −(d−1)/κ x of Brownian motion on S^{d−1}).
  void euler_step(double t, Matrix& x, double h, Matrix& work) override;
  /// Remembers the interval, so Mix-LN uses one side of τ for all its stages (τ is an output stop).
  void begin_interval(double t0, double t1) override { interval_middle_ = 0.5 * (t0 + t1); }
  /// post_ln: back onto the sphere; ngpt / sqrt_scaling: back to the fixed radii.
  void retract(Matrix& x) override;

  std::uint64_t evaluations() const override { return evaluations_; }

 private:
  /// A at the directions of x: fills theta_ and a, and r_ (|x_i|).
  void attention_on_directions(const Matrix& x, Matrix& a);
  /// Whether the Post-LN equations hold: always for post_ln; for mix_ln before τ.
  bool post_ln_at(double t) const;

  AttentionField field_;
  std::vector<double> radii_;
  Matrix theta_;
  std::vector<double> r_;
  Rng noise_rng_;
  double interval_middle_ = std::numeric_limits<double>::quiet_NaN();
  std::uint64_t evaluations_ = 0;
};

}  // namespace attnflow
