#pragma once
// A scalar integrated alongside an ODE by the integrator itself, I(t) = ∫_{t0}^t q(s, x(s)) ds:
// q is evaluated at the method's stages and accumulated with its own weights, which is the method
// applied to the state augmented by I (q never feeds back into F). I therefore converges at the
// method's order: euler 1, rk4 4, dopri5 at its tolerance. I is not part of dopri5's error control,
// so integrating it never changes the trajectory. Used for [M]'s energy-dissipation identity.
#include "attnflow/types.hpp"

namespace attnflow {

/// The integrand q and the running integral I.
class Quadrature {
 public:
  virtual ~Quadrature() = default;

  /// q(t, x) at a stage, given v = F(t, x) there. piece: the middle of the step being taken, so a
  /// stage on a kink of time-dependent weights uses the derivative of the step's side
  /// (MatrixSchedule::derivative).
  virtual double integrand(double t, const Matrix& x, const Matrix& v, double piece) = 0;

  /// I: the integral from the first output time to the integrator's current time.
  double value = 0.0;
};

}  // namespace attnflow
