#pragma once
// Stability of the flow under perturbations ([M] §5, arXiv 2605.18870: continuous dependence on the
// initial data, W2(μ_t, ν_t) ≤ e^{Lt} W2(μ_0, ν_0), and convergence of the flows as perturbed
// weights converge): perturb the input tokens or the weight matrices by ε, integrate both flows,
// and report W2 between them at every output time with its ratio to ε.
#include <cstdint>
#include <vector>

#include "attnflow/analysis/wasserstein.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/model.hpp"

namespace attnflow::analysis {

/// The seed of a perturbation stream: SplitMix64 of (seed, stream), so that a perturbation drawn
/// with the same seed as the initial tokens is not the very noise that made them (which on the
/// sphere would be radial and vanish after renormalisation).
std::uint64_t perturbation_seed(std::uint64_t seed, std::uint64_t stream);

/// x_i + ε ξ_i with ξ_i ~ N(0, I_d/d) i.i.d. (so E|ξ_i|² = 1), drawn from
/// attnflow::Rng(perturbation_seed(seed, 0)) row by row; on the sphere each row is then
/// renormalised (the perturbation of the inputs of [M] Thm. on continuous dependence). Masses and
/// positions are unchanged.
Measure perturb_tokens(const Measure& measure, double eps, std::uint64_t seed, bool on_sphere);

/// Every Q_h, K_h, V_h (and W_h when given) plus ε Ξ, Ξ with i.i.d. N(0, 1/d) entries (d =
/// columns), drawn from attnflow::Rng(perturbation_seed(seed, 1)) matrix by matrix in head order
/// ([M] weight perturbation).
Model perturb_weights(const Model& model, double eps, std::uint64_t seed);

/// W2 between the flows of (model_a, μ) and (model_b, ν) at every time of `times` (sorted; the
/// first is the start), both integrated with `options`, distances by `w2`.
std::vector<double> w2_between_flows(const Model& model_a, const Measure& mu, const Model& model_b,
                                     const Measure& nu, const std::vector<double>& times,
                                     const IntegrateOptions& options, const W2Options& w2);

}  // namespace attnflow::analysis
