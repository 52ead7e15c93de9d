#pragma once
// Stationary states of the [B] model (Burger, Kabri, Korolev, Roith, Weigand, arXiv 2501.03096):
// tokens on S^{d−1}, D = βQᵀK symmetric, V = ±D, ẋ = ±P⊥_x ∇Z_μ(x)/Z_μ(x) with
//     Z_μ(x) = ∫ e^{⟨x, D y⟩} dμ(y),   ∇Z_μ(x) = ∫ e^{⟨x, D y⟩} D y dμ(y),
// the Wasserstein-type gradient flow (mobility 1/Z) of E(μ) = ½ ∬ e^{⟨x, D y⟩} dμ dμ, ascending for
// V = +D and descending for V = −D. μ is stationary iff P⊥_x ∇Z_μ(x) = 0 on supp μ ([B] §4). The
// analytic stationary states ([B] §4–5) are Diracs on eigenvectors of D, antipodal pairs
// p δ_v + (1 − p) δ_{−v} on eigenvectors (any p: ∇Z(±v) ∥ v), and any measure on S^{d−1} ∩ ker D.
#include <string>
#include <vector>

#include "attnflow/measure.hpp"
#include "attnflow/model.hpp"

namespace attnflow::analysis {

/// The [B] interaction matrix D = β Q_hᵀ K_h of a one-head model with D symmetric (within
/// 1e-12·|D|); throws InputError(key, ...) otherwise.
Matrix interaction_matrix(const Model& model, const std::string& key);

/// The stationarity residual of [B] (SPEC §2): max_i over tokens with w_i > 0 of
/// |P⊥_{x_i} ∇Z_μ(x_i)|, ∇Z_μ(x) = Σ_j w_j e^{⟨x, D x_j⟩} D x_j (one streaming pass).
struct StationarityResidual {
  double residual = 0.0;  ///< max_i |P⊥_{x_i} ∇Z_μ(x_i)|
  double normalized_residual =
      0.0;                ///< max_i |P⊥_{x_i} ∇Z_μ(x_i)| / Z_μ(x_i) = max |ẋ_i| for V = ±D
  Index worst_token = 0;  ///< the token attaining `residual`
};

/// The residual above for tokens x (rows, on the sphere) with masses w.
StationarityResidual stationarity_residual(const Matrix& D, const Measure& measure);

/// One analytic stationary state of [B] compared with a given state.
struct Candidate {
  std::string kind;         ///< "dirac", "antipodal" or "kernel"
  Index eigen_index = -1;   ///< index into the eigenvalues of D (ascending); −1 for "kernel"
  double eigenvalue = 0.0;  ///< λ (0 for "kernel")
  double energy = 0.0;  ///< E = ½ e^{λ} (Dirac), ½[(p² + (1−p)²)e^{λ} + 2p(1−p)e^{−λ}]
                        ///< (antipodal pair, ½ cosh λ for p = ½), ½ (ker D)
  double mass_plus = 1.0;  ///< antipodal: p, the mass at +direction (the state's split)
  double w2 = 0.0;         ///< W2 from the given state to the candidate (closest sign / support)
  Vector direction;        ///< the eigenvector (sign of the closer Dirac); empty for "kernel"
};

/// Every candidate of the file comment, with W2 from the state to the nearest member of each
/// family (closed forms: every token moves to its nearest point of the candidate's support, and
/// the family contains the measure with exactly those masses): a Dirac at ±v per eigenvector
/// (W2² = min_± Σ w_i|x_i ∓ v|²), an antipodal pair per eigenvector (W2² = Σ w_i min|x_i ∓ v|²,
/// p = mass nearer +v), and, if D has eigenvalues with |λ| ≤ kernel_tol·max|λ|, the measures on
/// S ∩ ker D (nearest point P_ker x/|P_ker x|, distance² = |x|² + 1 − 2|P_ker x|).
std::vector<Candidate> stationary_candidates(const Matrix& D, const Measure& measure,
                                             double kernel_tol = 1e-10);

/// E(μ) = ½ Σ_ij w_i w_j e^{⟨x_i, D x_j⟩} of [B] for a symmetric D (streaming, log-sum-exp safe).
double energy_b(const Matrix& D, const Measure& measure);

}  // namespace attnflow::analysis
