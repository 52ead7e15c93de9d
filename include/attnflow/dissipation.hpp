#pragma once
// [M]'s energy-dissipation identity as a run observer. Along a trajectory μ_t,
//     R(t) = E(t, μ_t) − E(t0, μ_{t0}) − ∫_{t0}^t [∂_s E(s, μ_s) + Σ_i ⟨∇_{x_i} E, ẋ_i⟩] ds
// vanishes (chain rule; E of time_energy.hpp). The integral is computed by the integrator itself
// (quadrature.hpp), so R → 0 at the integrator's order: a check of the energy, its time derivative,
// its gradient and the integration at once. It holds for every velocity field, gradient flow or
// not; with model.noise > 0 Itô's formula adds a term it does not contain.
#include <vector>

#include "attnflow/model.hpp"
#include "attnflow/quadrature.hpp"

namespace attnflow {

/// The integrand d/dt E(t, μ_t) of [M]'s identity and the residual R(t).
class DissipationIntegral : public Quadrature {
 public:
  /// model: with its schedule; weights, positions: the tokens' masses and sequence positions.
  DissipationIntegral(Model model, std::vector<double> weights, std::vector<double> positions);

  /// Starts the integral at (t0, x0): I = 0, E(t0, μ_0) remembered.
  void start(double t0, const Matrix& x0);

  /// ∂_t E(t, μ) + Σ_i ⟨∇_{x_i} E, v_i⟩ at x with velocity v.
  double integrand(double t, const Matrix& x, const Matrix& v, double piece) override;

  /// R(t) at the integrator's current time t and state x.
  double residual(double t, const Matrix& x);

 private:
  Model model_;
  std::vector<double> weights_, positions_;
  double initial_energy_ = 0.0;
};

}  // namespace attnflow
