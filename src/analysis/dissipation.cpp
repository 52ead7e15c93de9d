#include "attnflow/dissipation.hpp"

#include "attnflow/time_energy.hpp"

namespace attnflow {

DissipationIntegral::DissipationIntegral(Model model, std::vector<double> weights,
                                         std::vector<double> positions)
    : model_(std::move(model)), weights_(std::move(weights)), positions_(std::move(positions)) {}

void DissipationIntegral::start(double t0, const Matrix& x0) {
  value = 0.0;
  apply_schedule(model_, t0);
  initial_energy_ =
      time_energy(interaction_matrices(model_), Measure{x0, weights_, positions_}).value;
}

double DissipationIntegral::integrand(double t, const Matrix& x, const Matrix& v, double piece) {
  apply_schedule(model_, t);
  return time_energy_derivative(interaction_matrices(model_),
                                interaction_matrix_rates(model_, t, piece),
                                Measure{x, weights_, positions_}, v);
}

double DissipationIntegral::residual(double t, const Matrix& x) {
  apply_schedule(model_, t);
  const double energy =
      time_energy(interaction_matrices(model_), Measure{x, weights_, positions_}).value;
  return energy - initial_energy_ - value;
}

}  // namespace attnflow
