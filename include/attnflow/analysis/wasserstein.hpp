#pragma once
// Wasserstein distances between weighted empirical measures μ = Σ_i a_i δ_{x_i}, ν = Σ_j b_j
// δ_{y_j} (SPEC §4; [R] Thm. mean-field rates in W2; [M] stability in W2), cost |x − y|²:
//   exact     W2² = min_{π ∈ Π(a,b)} Σ_ij π_ij |x_i − y_j|²  (LEMON's network simplex)
//   sinkhorn  the Sinkhorn divergence S_ε = OT_ε(a,b) − ½OT_ε(a,a) − ½OT_ε(b,b) (Genevay et al.
//             2018, Feydy et al. 2019), OT_ε = min_π ⟨C,π⟩ + ε KL(π | a⊗b), log-domain streaming
//             symmetric (averaged) iterations through the engine (no N×M matrix) with ε-annealing;
//             S_ε → W2² as ε → 0
//   sliced    SW2² = E_θ W2²(θ#μ, θ#ν) over θ uniform on S^{d−1} (Monte Carlo, 1-D closed form)
//   gaussian  the Bures closed form between the moment-matched Gaussians N(m_μ, Σ_μ), N(m_ν, Σ_ν)
//   conditional  Σ_s m(s) W2²(μ_s, ν_s) over the sequence positions s of causal attention ([C]
//             masked, the "conditional Wasserstein" of SPEC §1): tokens move only within a position
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow::analysis {

/// Which W2 to compute.
enum class W2Method { exact, sinkhorn, sliced, gaussian, conditional };

/// "exact" / "sinkhorn" / "sliced" / "gaussian" / "conditional".
std::string_view w2_method_name(W2Method method);

/// Looks a method up by name; throws InputError(key, "unknown method ...; allowed: ...").
W2Method w2_method_from_name(std::string_view name, const std::string& key);

/// Largest N·M the exact solver accepts (one arc per pair; ~60 bytes each in LEMON).
inline constexpr std::int64_t kExactMaxPairs = std::int64_t{1} << 22;

/// Exact W2²(μ, ν) by min-cost flow on the complete bipartite graph (LEMON NetworkSimplex, which
/// needs integer data): masses are scaled to integers summing to 2^50 (largest-remainder rounding,
/// or exactly M and N copies for uniform masses) and costs to integers ≤ 2^58/(N+M+1) (so that
/// LEMON's potentials cannot overflow int64); the optimal plan is then costed with the exact
/// |x_i − y_j|². Error: ≤ 2·C_max·2^{−58}·(N+M+1) from the cost rounding plus ≤ C_max·(N+M)·2^{−50}
/// from the mass rounding (0 for uniform masses). Throws InputError("w2", ...) above
/// kExactMaxPairs.
double w2_squared_exact(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                        const std::vector<double>& b);

/// Settings of the Sinkhorn divergence.
struct SinkhornOptions {
  double epsilon = 1e-2;   ///< entropic regularisation ε > 0 (units of squared distance)
  double tol = 1e-9;       ///< stop when max_j |column marginal / b_j − 1| ≤ tol
  int max_iters = 100000;  ///< iterations per annealing stage
};

/// What a Sinkhorn divergence computed.
struct SinkhornResult {
  double divergence = 0.0;      ///< S_ε = OT_ε(a,b) − ½OT_ε(a,a) − ½OT_ε(b,b)
  double ot_ab = 0.0;           ///< OT_ε(a,b) = ⟨a,f⟩ + ⟨b,g⟩ at the fixed point
  double ot_aa = 0.0;           ///< OT_ε(a,a)
  double ot_bb = 0.0;           ///< OT_ε(b,b)
  int iterations = 0;           ///< Sinkhorn iterations over all stages and the three problems
  double marginal_error = 0.0;  ///< worst final column-marginal error of the three problems
};

/// The Sinkhorn divergence (file comment): |S_ε − W2²| ≤ ε log(max(N, M)) + (iteration error),
/// since W2² ≤ OT_ε(a,b) ≤ W2² + ε KL(π*|a⊗b) and 0 ≤ OT_ε(a,a) ≤ ε KL(diag|a⊗a) ≤ ε log N.
SinkhornResult sinkhorn_divergence(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                                   const std::vector<double>& b, const SinkhornOptions& options);

/// W2² between two weighted measures on the line, by the quantile coupling (exact in 1-D).
double w2_squared_1d(const std::vector<double>& x, const std::vector<double>& a,
                     const std::vector<double>& y, const std::vector<double>& b);

/// Sliced W2² with `projections` directions drawn uniformly on S^{d−1} from `seed` (attnflow::Rng,
/// normalised Gaussians), averaged in direction order (the same value for any thread count).
double sliced_w2_squared(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                         const std::vector<double>& b, int projections, std::uint64_t seed);

/// Mean and covariance (Σ a_i (x_i − m)(x_i − m)ᵀ) of a weighted cloud.
struct GaussianMoments {
  Vector mean;  ///< m = Σ a_i x_i / Σ a_i
  Matrix cov;   ///< Σ a_i (x_i − m)(x_i − m)ᵀ / Σ a_i
};

/// The weighted mean and (biased, mass-weighted) covariance of μ.
GaussianMoments gaussian_moments(const Matrix& x, const std::vector<double>& a);

/// W2² between N(m1, S1) and N(m2, S2) (S PSD): |m1 − m2|² + tr S1 + tr S2 − 2 tr (S1^{½} S2
/// S1^{½})^{½} (the Bures metric; Dowson–Landau, Olkin–Pukelsheim, Givens–Shortt).
double w2_squared_gaussian(const Vector& m1, const Matrix& s1, const Vector& m2, const Matrix& s2);

/// Conditional W2² (file comment): tokens are grouped by equal sequence position; each group's
/// masses must agree between μ and ν (within 1e-9), else InputError("w2", ...); within a group the
/// normalised conditionals are compared exactly. With one token per position this is Σ_i a_i|x_i −
/// y_i|².
double w2_squared_conditional(const Matrix& x, const std::vector<double>& a,
                              const std::vector<double>& pos_a, const Matrix& y,
                              const std::vector<double>& b, const std::vector<double>& pos_b);

/// Settings for w2_distance().
struct W2Options {
  W2Method method = W2Method::exact;  ///< which W2
  SinkhornOptions sinkhorn;           ///< method = sinkhorn
  int projections = 200;              ///< method = sliced
  std::uint64_t seed = 0;             ///< method = sliced
};

/// W2 (the distance, not its square) by the chosen method; for sinkhorn √max(S_ε, 0). Positions
/// are used by the conditional method only.
double w2_distance(const Matrix& x, const std::vector<double>& a, const std::vector<double>& pos_a,
                   const Matrix& y, const std::vector<double>& b, const std::vector<double>& pos_b,
                   const W2Options& options);

}  // namespace attnflow::analysis
