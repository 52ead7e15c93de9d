#pragma once
// Spectra of a token configuration (SPEC §4): Gram / second-moment and covariance eigenvalues
// (anisotropy, rank of the limit, [C] "Σ/tr Σ degenerates to low rank") and the attention matrix
// of small systems: its numerical rank and its "leaders" (Geshkovski–Letrouit–Polyanskiy–Rigollet,
// "The emergence of clusters in self-attention dynamics": the attention matrix tends to a
// low-rank Boolean matrix whose non-zero columns are the leaders).
#include <vector>

#include "attnflow/measure.hpp"
#include "attnflow/model.hpp"

namespace attnflow::analysis {

/// Summary numbers of a spectrum λ_1 ≥ λ_2 ≥ ... ≥ 0.
struct SpectrumSummary {
  std::vector<double> eigenvalues;  ///< descending (negative rounding clamped to 0)
  double trace = 0.0;               ///< Σ λ
  double anisotropy = 0.0;          ///< λ_1 / Σ λ (1/d isotropic, 1 rank one); 0 if Σ λ = 0
  double effective_rank = 0.0;  ///< exp(−Σ p log p), p = λ/Σλ (Roy–Vetterli); 0 if Σ λ = 0
  double stable_rank = 0.0;     ///< Σ λ / λ_1; 0 if λ_1 = 0
  Index numerical_rank = 0;     ///< #{λ > rank_tol·λ_1}
};

/// Summarises eigenvalues (any order) with the numerical-rank tolerance rank_tol.
SpectrumSummary summarize_spectrum(std::vector<double> eigenvalues, double rank_tol);

/// Second moment M = Σ_i w_i x_i x_iᵀ (d×d; its eigenvalues are those of the weighted Gram matrix
/// G_ij = √(w_i w_j)⟨x_i, x_j⟩) and covariance Σ = Σ_i w_i (x_i − m)(x_i − m)ᵀ.
struct GramSpectra {
  SpectrumSummary second_moment;  ///< of M = Σ w_i x_i x_iᵀ
  SpectrumSummary covariance;     ///< of Σ = M − m mᵀ
};

/// The spectra above (masses normalised to sum 1).
GramSpectra gram_spectra(const Measure& measure, double rank_tol = 1e-6);

/// The N×N attention matrix a_ij of one head of the model at this state, computed by the
/// streaming engine with one-hot values (so every kernel, mask and mass convention is the engine's
/// own). Sinkhorn kernels are not supported (InputError("spectra", ...)). Memory O(N²): small N.
Matrix attention_matrix(const Model& model, const Measure& measure, std::size_t head = 0);

/// Rank and leaders of an attention matrix.
struct AttentionSpectrum {
  std::vector<double> singular_values;  ///< descending
  Index numerical_rank = 0;             ///< #{σ > rank_tol·σ_1}
  std::vector<double> column_mass;      ///< c_j = Σ_i a_ij (Σ_j c_j = N for row-stochastic A)
  std::vector<Index> leaders;           ///< j with c_j ≥ leader_threshold, ascending
};

/// Singular values, numerical rank and leaders (columns receiving at least `leader_threshold`
/// of total attention; in the Boolean limit a leader column sums to ≥ 1 and the others to 0, so
/// the default ½ separates them).
AttentionSpectrum attention_spectrum(const Matrix& a, double rank_tol = 1e-3,
                                     double leader_threshold = 0.5);

}  // namespace attnflow::analysis
