#pragma once
// [M]'s time-dependent interaction energy and its energy-dissipation identity, as pure functions of
// the state (DESIGN principle 5).
//
// [M] (multi-head, time-dependent weights; authors' code attn_sphere/engine.py):
//     E(t, μ) = 1/(2H) Σ_h ∬ e^{⟨x, D_h(t) y⟩} dμ(x) dμ(y),   D_h = β Q_hᵀ K_h,
// which for uniform weights is their 1/(2Hn²) Σ_h Σ_ij exp(⟨x_i, D_h x_j⟩). It is β/H times
// energy.hpp's E (and 1/H times [B]'s energy_b). Along any trajectory (chain rule)
//     d/dt E(t, μ_t) = ∂_t E(t, μ_t) + Σ_i ⟨∇_{x_i} E, ẋ_i⟩,
//     ∂_t E = 1/(2H) Σ_h ∬ e^{⟨x, D_h y⟩} ⟨x, Ḋ_h y⟩ dμ dμ,
//     ∇_{x_i} E = (w_i/(2H)) Σ_h [D_h U^h_i + D_hᵀ Ũ^h_i],  U^h_i = Σ_j w_j e^{⟨x_i, D_h x_j⟩} x_j,
//                                                        Ũ^h_i = Σ_j w_j e^{⟨x_j, D_h x_i⟩} x_j.
// With V_h = ∓D_h symmetric (and W_h = I/H) the sphere dynamics is [M]'s time-dependent gradient
// descent / ascent; the identity itself holds for every velocity. Masks are ignored (the energy is
// defined for unmasked attention); exponentials are not shifted (finite for |⟨x, D y⟩| ≲ 700).
#include <vector>

#include "attnflow/energy.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/model.hpp"

namespace attnflow {

/// D_h = β Q_hᵀ K_h for every head of a model (its weights as they are, e.g. at time t).
std::vector<Matrix> interaction_matrices(const Model& model);

/// dD_h/dt = β̇ Q_hᵀK_h + β Q̇_hᵀK_h + β Q_hᵀK̇_h at time t from model.schedule (zeros without
/// one); `model` must hold the weights of time t (apply_schedule). piece: a time inside the step or
/// interval being integrated, which picks the one-sided derivative at a kink of an OU path
/// (MatrixSchedule::derivative); per-layer weights have derivative 0 inside a layer.
std::vector<Matrix> interaction_matrix_rates(const Model& model, double t, double piece);

/// E(t, μ) of the file comment for D = D_h(t).
EnergyValue time_energy(const std::vector<Matrix>& D, const Measure& measure);

/// ∂_t E(t, μ) at fixed μ, from D_h(t) and Ḋ_h(t).
double time_energy_partial_t(const std::vector<Matrix>& D, const std::vector<Matrix>& D_rate,
                             const Measure& measure);

/// ∇_{x_i} E(t, μ) for every token (N×d).
Matrix time_energy_gradient(const std::vector<Matrix>& D, const Measure& measure);

/// d/dt E(t, μ_t) = ∂_t E + Σ_i ⟨∇_{x_i} E, ẋ_i⟩ along the velocity xdot (N×d), in one pass over
/// the pairs (two when some D_h is not symmetric).
double time_energy_derivative(const std::vector<Matrix>& D, const std::vector<Matrix>& D_rate,
                              const Measure& measure, const Matrix& xdot);

}  // namespace attnflow
