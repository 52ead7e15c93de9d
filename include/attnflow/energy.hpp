#pragma once
// Interaction energies as pure functions of the state (DESIGN principle 5).
//
// [R] eq. (energy): E_β(μ) = 1/(2β) ∬ e^{β⟨x,y⟩} dμ dμ, generalised to heads as
//     E(μ) = Σ_h 1/(2β) ∬ e^{β⟨Q_h x, K_h y⟩} dμ(x) dμ(y).
// USA with V_h = Q_hᵀK_h symmetric (e.g. Q = K = V = I) is its Wasserstein gradient ascent; SA is
// an ascent for a modified metric: dE/dt = ∫ Z_μ |v|² dμ [R].
// [B] writes E(μ) = ½ ∬ e^{⟨x, D y⟩} dμ dμ with D = βQᵀK, which is β·E for one head.
#include "attnflow/measure.hpp"
#include "attnflow/model.hpp"

namespace attnflow {

/// An energy value kept with its logarithm, which stays finite when e^β overflows.
struct EnergyValue {
  double value;      ///< E (may be +∞ for huge β)
  double log_value;  ///< log E
};

/// E(μ) of the file comment ([R] E_β for Q = K = I). Ignores masks: the energy is defined for
/// unmasked attention.
EnergyValue interaction_energy(const Model& model, const Measure& measure);

/// ½ Σ_h ∬ e^{β⟨Q_h x, K_h y⟩} dμ dμ: [B]'s normalisation (= β·E).
EnergyValue interaction_energy_b(const Model& model, const Measure& measure);

/// ∇_{x_i} E for every token (N×d): (w_i/2) Σ_h [Q_hᵀ Σ_j w_j e^{s_ij} K_h x_j
///                                             + K_hᵀ Σ_j w_j e^{s_ji} Q_h x_j].
Matrix energy_gradient(const Model& model, const Measure& measure);

/// dE/dt = Σ_i ⟨∇_{x_i} E, ẋ_i⟩ along a velocity ẋ (N×d): the exact dissipation (chain rule).
double energy_rate(const Model& model, const Measure& measure, const Matrix& xdot);

/// 1/(n²) Σ_{i,j} e^{β(⟨x_i,x_j⟩−1)} (uniform weights, or Σ w_i w_j with weights): [R]'s
/// normalised energy, in [e^{−2β}, 1] on the sphere, = 1 iff all tokens coincide.
double normalized_energy(double beta, const Measure& measure);

}  // namespace attnflow
