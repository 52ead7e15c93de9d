#pragma once
// The long-context phase transition of [R] §"Long context Transformers" (Theorem
// "long-context-phase-transition", from Chen et al.): one attention layer with β_n = γ log n on
// equiangular unit inputs (⟨x_i, x_j⟩ = ρ). Derivation in docs/reduced_models.md §3.
//
// With A_ii = a, A_ij = b (i ≠ j), c = a/b = n^{γ(1−ρ)}, S = Σ_j x_j, σ = ⟨x_i, S⟩ = 1 + (n−1)ρ and
// |S|² = nσ, the layer output is ATT(x_i) = b((c − 1) x_i + S) and, for any i ≠ j,
//     ⟨θ_i, θ_j⟩ = (κ²ρ + 2κσ + nσ) / (κ² + 2κσ + nσ),   κ = c − 1                 (docs eq. L1)
// (with the residual x_i + ATT(x_i) of a Pre-LN block, κ = c − 1 + 1/b = 2c + n − 2 instead).
// As n → ∞: 1, 4ρ/(1+3ρ), ρ for γ <, =, > γ_c = 1/(1−ρ) (no residual).
#include <string>

namespace attnflow::reduce {

/// γ_c = 1/(1 − ρ): the critical scale of β_n = γ log n ([R] long-context theorem).
double long_context_critical_gamma(double rho);

/// The exact output similarity ⟨θ_i, θ_j⟩ of one softmax attention layer (β = γ log n) on n
/// equiangular unit tokens at similarity ρ (docs eq. L1); n may be any real ≥ 2, so that the
/// n → ∞ limit can be approached (n = 10^30 is fine). With `residual`, the output is x_i +
/// ATT(x_i).
double long_context_similarity(double n, double gamma, double rho, bool residual = false);

/// lim_{n→∞} of long_context_similarity without residual: 1, 4ρ/(1+3ρ), ρ for γ below, at, above
/// γ_c ([R] Theorem long-context-phase-transition).
double long_context_limit(double gamma, double rho);

/// "subcritical" / "critical" / "supercritical" (γ vs γ_c, equality within 1e-12 relative).
std::string long_context_regime(double gamma, double rho);

/// Checks n ≥ 2, ρ ∈ (−1/(n−1), 1] and γ finite > 0 (in that order); throws InputError naming the
/// argument.
void validate_long_context(double n, double gamma, double rho);

}  // namespace attnflow::reduce
