#pragma once
// What an integrator needs from a system: ẋ = F(t, x) on a matrix-shaped state, the explicit
// Euler update, and a retraction onto the state's manifold. Particle dynamics and the reduced
// models (Gaussian moments, equiangular ρ, circle densities) all implement it, so they share the
// same steppers and output-time handling (DESIGN "Reduced models ... reuse the same integrators").
// A virtual call per evaluation is negligible next to an O(N²) evaluation.
#include <cstdint>

#include "attnflow/types.hpp"

namespace attnflow {

/// An ODE system on a Matrix state.
class OdeSystem {
 public:
  virtual ~OdeSystem() = default;

  /// v = F(t, x).
  virtual void velocity(double t, const Matrix& x, Matrix& v) = 0;

  /// One explicit Euler step x ← x + h F(t, x) (then retract). Particle systems override it with
  /// the discrete transformer layer.
  virtual void euler_step(double t, Matrix& x, double h, Matrix& work) {
    velocity(t, x, work);
    x += h * work;
    retract(x);
  }

  /// Called before integrating each output interval [t0, t1]. Integration stops at every
  /// discontinuity in time of F (e.g. Mix-LN's switch), so a system can decide which side of it
  /// the interval lies on instead of trusting a stage time that equals the switch exactly.
  virtual void begin_interval(double, double) {}

  /// Maps a state back onto its manifold after a step (identity in flat spaces).
  virtual void retract(Matrix&) {}

  /// Number of right-hand-side evaluations so far (the unit of cost).
  virtual std::uint64_t evaluations() const = 0;
};

}  // namespace attnflow
