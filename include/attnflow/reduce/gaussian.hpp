#pragma once
// Gaussian solutions of the Transformer PDE ([C] §Gaussian data; SPEC §3; derivations in
// docs/reduced_models.md §1).
//
// For the kernels that map a Gaussian μ = N(m, Σ) to an *affine* velocity field
//     v(x) = Σ_h C_h E_{a_h(x,·)}[y] = b + M x,        C_h = W_h V_h (V_h when W_h is empty),
// the continuity equation keeps μ Gaussian with
//     ṁ = b + M m,        Σ̇ = M Σ + Σ Mᵀ                                  (docs eq. G1)
// because an affine flow pushes Gaussians to Gaussians. Per head (A = β Kᵀ Q, so the softmax score
// β⟨Qx, Ky⟩ = yᵀ A x), the conditional mean E_{a(x,·)}[y] = p + R x is
//     softmax  : p = m,                          R = Σ A                              (docs G2)
//     l2       : p = (I + 2βΣKᵀK)⁻¹ m,           R = 2β (I + 2βΣKᵀK)⁻¹ Σ Kᵀ Q         (docs G3)
//     sinkhorn : p = (I − R) m,                  R = Σ^{1/2} H Σ^{1/2} A,
//                H = 2 (I + (I + 4 G Gᵀ)^{1/2})⁻¹,  G = Σ^{1/2} A Σ^{1/2}            (docs G4)
// (unnormalised, sigmoid and hardmax attention and causal masks do not preserve Gaussians).
//
// PSD preservation: the state carries a factor L with Σ = L Lᵀ, evolved by L̇ = M L, which gives
// exactly Σ̇ = MΣ + ΣMᵀ. Any integrator then returns Σ = L Lᵀ symmetric positive semi-definite by
// construction, and rank Σ = rank L is invariant, as for the exact flow (L(t) = Φ(t) L(0) with Φ
// the invertible fundamental matrix of ẏ = M(t) y).
#include <optional>
#include <string>
#include <vector>

#include "attnflow/integrator.hpp"
#include "attnflow/model.hpp"
#include "attnflow/ode_system.hpp"
#include "attnflow/types.hpp"

namespace attnflow::reduce {

/// The affine velocity v(x) = b + M x of the Transformer PDE at a Gaussian (docs eq. G1–G4).
struct AffineField {
  Vector b;  ///< constant part
  Matrix M;  ///< linear part (d×d)
};

/// Whether `model` has a Gaussian reduction: geometry euclidean, normalization none, no noise,
/// kernel softmax / l2 / sinkhorn, no causal mask. Throws InputError("<prefix>.<key>", ...)
/// otherwise.
void validate_gaussian_model(const Model& model, const std::string& prefix = "model");

/// v = b + M x at μ = N(m, Σ) for every head of `model` ([C] Gaussian section; docs G1–G4).
AffineField gaussian_field(const Model& model, const Vector& mean, const Matrix& cov);

/// Checks that `cov` is a finite, symmetric (within 1e-12 relative), positive semi-definite
/// (smallest eigenvalue ≥ −1e-12 relative) d×d matrix; throws InputError(key, ...).
void validate_covariance(const Matrix& cov, Index d, const std::string& key);

/// The ODE state [m | L] (d×(d+1), Σ = L Lᵀ) of a Gaussian; L = U diag(√λ₊) from Σ's eigensystem.
Matrix gaussian_state(const Vector& mean, const Matrix& cov);
/// The mean (column 0) of a state of gaussian_state's layout.
Vector state_mean(const Matrix& state);
/// The covariance L Lᵀ of a state of gaussian_state's layout (exactly symmetric).
Matrix state_cov(const Matrix& state);

/// The moment ODE (docs G1) on the factored state [m | L]: ṁ = b + M m, L̇ = M L. With
/// time-dependent weights (model.schedule, [M]) b and M are those of the matrices at time t.
class GaussianFlow : public OdeSystem {
 public:
  /// `model` must pass validate_gaussian_model.
  explicit GaussianFlow(Model model);
  /// v = (b + M m, M L).
  void velocity(double t, const Matrix& x, Matrix& v) override;
  /// Number of right-hand-side evaluations so far.
  std::uint64_t evaluations() const override { return evaluations_; }
  /// The attention model whose Gaussian solution this is.
  const Model& model() const { return model_; }

 private:
  Model model_;
  std::uint64_t evaluations_ = 0;
};

/// One output frame of a Gaussian solution.
struct GaussianFrame {
  double t = 0.0;
  Vector mean;
  Matrix cov;
};

/// How a Gaussian solve went.
struct GaussianSolution {
  std::vector<GaussianFrame> frames;  ///< one per output time reached (all of them unless blow-up)
  /// Estimated blow-up time t* (tr Σ → ∞), when the trace exceeded blowup_ratio × tr Σ(0).
  std::optional<double> blowup_time;
  /// The time at which the trace threshold was crossed (≤ t*), when blow-up was detected.
  std::optional<double> blowup_detected_at;
  IntegrateStats stats;
};

/// Settings of solve_gaussian.
struct GaussianSolveOptions {
  IntegrateOptions integrate;  ///< integrator for the moment ODE
  double blowup_ratio = 1e12;  ///< blow-up declared when tr Σ > blowup_ratio · tr Σ(0)
};

/// Integrates the moment ODE through `times` (sorted, first = initial time). If Σ blows up, the
/// frames before the blow-up are returned and t* is estimated by integrating the time-rescaled
/// flow d/ds = (tr Σ)⁻¹ d/dt (no finite-s blow-up) until tr Σ exceeds the threshold, then
/// extrapolating the simple pole tr Σ ≈ c/(t* − t): t* ≈ t + tr Σ / (d tr Σ/dt) (docs §1.5).
GaussianSolution solve_gaussian(const Model& model, const Vector& mean0, const Matrix& cov0,
                                const std::vector<double>& times,
                                const GaussianSolveOptions& options);

/// The 2-Wasserstein (Bures) distance between N(m1, S1) and N(m2, S2):
/// W2² = |m1 − m2|² + tr S1 + tr S2 − 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}.
double gaussian_w2(const Vector& m1, const Matrix& s1, const Vector& m2, const Matrix& s2);

/// Spectrum of the normalised covariance Σ / tr Σ ([C]: its degeneration is "clustering").
struct NormalizedSpectrum {
  Vector eigenvalues;  ///< of Σ / tr Σ, descending (all 0 when tr Σ = 0)
  Index rank = 0;      ///< number of eigenvalues > rank_tol
};

/// Eigenvalues of Σ / tr Σ and its numerical rank (eigenvalues above `rank_tol`).
NormalizedSpectrum normalized_spectrum(const Matrix& cov, double rank_tol);

/// Empirical mean Σ_i w_i x_i and covariance Σ_i w_i (x_i − m)(x_i − m)ᵀ of weighted tokens (the
/// moments of the empirical measure itself, no N/(N−1) correction).
void empirical_moments(const Matrix& x, const std::vector<double>& weights, Vector& mean,
                       Matrix& cov);

}  // namespace attnflow::reduce
