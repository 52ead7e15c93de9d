#pragma once
// The equiangular model of [R] §"Equiangular model" with the normalisation schemes of [R] §"The
// impact of normalization" (Karagodin–Ge–Polyanskiy–Rigollet); derivations in
// docs/reduced_models.md §2.
//
// Tokens x_i = r θ_i with ⟨θ_i, θ_j⟩ = ρ for all i ≠ j and a common radius r stay so under every
// scheme, and with the attention A_i = Σ_j a_ij θ_j on directions (self weight a, other weight b)
//     ρ̇ = 2 b (1 − ρ)(1 + (n − 1)ρ) / s,          ṙ = scheme-specific            (docs eq. E1)
//     SA : b = 1/(e^{β(1−ρ)} + n − 1),  a = e^{β(1−ρ)} b;      USA: b = e^{βρ}/n, a = e^β/n
// speed s and ṙ (p = ⟨θ_i, A_i⟩ = a + (n−1)bρ, |A|² = a² + 2ab(n−1)ρ + b²(n−1)(1+(n−2)ρ)):
//     post_ln: s = 1, ṙ = 0;   pre_ln: s = r, ṙ = p;   peri_ln: s = r|A|, ṙ = p/|A|;
//     ngpt: s = |A|/α, ṙ = 0;  sqrt_scaling: s = √(t+1), ṙ = 0;
//     mix_ln: post_ln for t < τ, pre_ln after.
// With post_ln these are [R]'s SA / USA equations; near ρ = 1, 1 − ρ decays at rate 2 (SA) and
// 2e^β (USA).
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/integrator.hpp"
#include "attnflow/model.hpp"
#include "attnflow/ode_system.hpp"

namespace attnflow::reduce {

/// Whether the scheme moves the radius r (pre_ln, mix_ln, peri_ln).
bool normalization_has_radius(Normalization scheme);

/// Parameters of the equiangular ODE.
struct EquiangularParams {
  KernelKind kernel = KernelKind::softmax;        ///< softmax (SA) or usa
  Index n = 2;                                    ///< number of tokens (≥ 2)
  double beta = 1.0;                              ///< inverse temperature (≥ 0)
  Normalization scheme = Normalization::post_ln;  ///< any scheme but none (model.hpp)
  double mix_switch_time = 1.0;  ///< mix_ln: τ, the time Post-LN hands over to Pre-LN
  double ngpt_alpha = 1.0;       ///< ngpt: the step scale α (constant in time)
};

/// Checks n ≥ 2, β finite ≥ 0, kernel SA/USA, scheme ≠ none, τ ≥ 0, α > 0, ρ0 ∈ (−1/(n−1), 1], r0 >
/// 0; throws InputError with the given argument names (e.g. "--rho0").
void validate_equiangular(const EquiangularParams& params, double rho0, double r0,
                          const std::string& rho_key = "--rho0", const std::string& n_key = "--n");

/// Attention weights on an equiangular configuration: a = a_ii, b = a_ij (i ≠ j) (docs E1).
struct EquiangularWeights {
  double self = 0.0;
  double other = 0.0;
};

/// (a, b) of SA or USA at similarity ρ, in a form that does not overflow for SA.
EquiangularWeights equiangular_weights(KernelKind kernel, Index n, double beta, double rho);

/// (ρ̇, ṙ) of docs eq. E1 at time t.
void equiangular_rhs(const EquiangularParams& params, double t, double rho, double r,
                     double& rho_dot, double& r_dot);

/// The equiangular ODE as an OdeSystem on the 1×2 state (ρ, r).
class EquiangularFlow : public OdeSystem {
 public:
  explicit EquiangularFlow(EquiangularParams params) : params_(params) {}
  /// v = (ρ̇, ṙ) of docs eq. E1 at the 1×2 state x = (ρ, r).
  void velocity(double t, const Matrix& x, Matrix& v) override;
  /// Number of right-hand-side evaluations so far.
  std::uint64_t evaluations() const override { return evaluations_; }

 private:
  EquiangularParams params_;
  std::uint64_t evaluations_ = 0;
};

/// One output frame of the equiangular ODE.
struct EquiangularFrame {
  double t = 0.0;
  double rho = 0.0;
  double r = 1.0;
};

/// Integrates (ρ, r) through `times` (sorted; the first is the initial time). For mix_ln the switch
/// time τ is added to the step grid so that no step straddles the discontinuity.
std::vector<EquiangularFrame> solve_equiangular(const EquiangularParams& params, double rho0,
                                                double r0, const std::vector<double>& times,
                                                const IntegrateOptions& options);

/// The first time ρ(t) reaches `threshold` (∈ (−1/(n−1), 1)) from (ρ0, r0) at t = 0: 0 if
/// ρ0 ≥ threshold, +∞ if never (ρ0 = −1/(n−1), the regular simplex, is an equilibrium). Computed
/// exactly by integrating the inverse system dt/dρ = 1/ρ̇, dr/dρ = ṙ/ρ̇ over [ρ0, threshold]
/// (ρ̇ > 0 there) with the given integrator tolerances.
double equiangular_hitting_time(const EquiangularParams& params, double rho0, double r0,
                                double threshold, const IntegrateOptions& options);

/// Mean and spread (max − min) of ⟨θ_i, θ_j⟩ over pairs i < j, and mean |x_i|, of a token array.
struct PairStatistics {
  double mean_cosine = 0.0;
  double spread = 0.0;
  double mean_radius = 0.0;
};

/// Pair statistics of the directions θ_i = x_i / |x_i| (O(n²d)).
PairStatistics pair_statistics(const Matrix& x);

}  // namespace attnflow::reduce
