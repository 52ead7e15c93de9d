#pragma once
// The attention model: heads (Q, K, V, W), inverse temperature β, kernel, mask and geometry.
// [C] §2 (multi-head Transformer PDE), [R] §2 (SA / USA on the sphere).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/schedule.hpp"
#include "attnflow/types.hpp"

namespace attnflow {

/// Where tokens live: R^d ([C], no normalisation) or the unit sphere S^{d-1} (Post-LN, [B], [R]).
enum class Geometry { euclidean, sphere };

/// What happens between attention layers: layer-normalisation schemes of [R] §6 and
/// Karagodin–Ge–Polyanskiy–Rigollet ("Normalization in attention dynamics"). Tokens are
/// x_i = r_i θ_i with θ_i on the sphere; attention acts on directions, A_i = Σ_j a_ij V θ_j, and
/// θ̇_i = P⊥_{θ_i} A_i / s_i with the scheme's speed s_i and radius equation (SPEC §1 table).
enum class Normalization {
  from_geometry,  ///< the default: post_ln on the sphere, none in R^d (see effective_normalization)
  none,           ///< no normalisation: ẋ = A(x) in R^d ([C])
  post_ln,        ///< s = 1, ṙ = 0: the sphere model ẋ = P⊥_x A(x) ([B], [R])
  pre_ln,         ///< s = r, ṙ = ⟨θ, A⟩: ẋ = A(θ)
  mix_ln,         ///< post_ln until model.mix_tau, then pre_ln
  peri_ln,        ///< s = r‖A‖, ṙ = ⟨θ, A⟩/‖A‖: ẋ = A(θ)/‖A(θ)‖
  ngpt,           ///< s = ‖A‖/α, ṙ = 0 (α = model.ngpt_alpha)
  sqrt_scaling,   ///< s = √(t+1), ṙ = 0
};

/// How attention weights a_ij are formed from scores s_ij = β⟨Q x_i, K x_j⟩ (SPEC §1 table).
enum class KernelKind {
  softmax,   ///< a_ij = w_j e^{s_ij} / Σ_k w_k e^{s_ik}              [R] (SA), [C]
  usa,       ///< a_ij = w_j e^{s_ij}, no partition function           [R] (USA)
  l2,        ///< softmax of s_ij = −β‖Q x_i − K x_j‖²                 [C] (L2 attention)
  sigmoid,   ///< a_ij = w_j e^{−b} σ(s_ij + b), not normalised         [C] (sigmoid attention)
  sinkhorn,  ///< doubly stochastic scaling of w_j e^{s_ij}             [C] (Sinkformers)
  hardmax,   ///< uniform (mass-weighted) over argmax_j s_ij: β → ∞    [R], optional limit
};

/// How multi-head softmax attention normalises ([C, M]; SPEC §1 multi-head):
enum class HeadNormalization {
  per_head,  ///< a^h_ij = w_j e^{s^h_ij} / Z^h_i, one partition function per head (the usual)
  shared,    ///< a^h_ij = w_j e^{s^h_ij} / Z_i, Z_i = Σ_h Z^h_i: one softmax over (head, key)
};

/// Floating-point type of the attention engine's velocity-field evaluation (DESIGN: double by
/// default, float as an option). float32 forms scores, exponentials and the sums over stretches of
/// keys in float, keeping the running softmax state and the outputs in double
/// (stream_attention.hpp); energies, gradients and the other analyses stay float64.
enum class Precision {
  float64,  ///< the default
  float32,  ///< about float32 accuracy (relative ~1e-6 for O(1) scores), faster
};

/// One attention head: scores β⟨Q x_i, K x_j⟩, values V x_j, output map W (d×dv).
/// An empty W means the identity, which requires V to be d×d.
struct Head {
  Matrix Q;  ///< k×d query matrix
  Matrix K;  ///< k×d key matrix
  Matrix V;  ///< dv×d value matrix
  Matrix W;  ///< d×dv output matrix, or empty for the identity
};

/// A complete attention model: v_i = Σ_h W_h Σ_j a^h_ij V_h x_j ([C] eq. multi-head).
struct Model {
  Geometry geometry = Geometry::sphere;
  KernelKind kernel = KernelKind::softmax;
  double beta = 1.0;        ///< inverse temperature β > 0
  std::vector<Head> heads;  ///< at least one head
  bool causal = false;      ///< a_ij = 0 unless position_j ≤ position_i ([C] masked attention)
  /// per_head or shared softmax normalisation across heads (softmax and l2 kernels).
  HeadNormalization head_normalization = HeadNormalization::per_head;

  /// Engine precision of the attention field (float32 not with the sinkhorn kernel).
  Precision precision = Precision::float64;

  /// Time-dependent weights ([M]); null when every matrix and β are constant. `heads` and `beta`
  /// above then hold the values at t = 0.
  std::shared_ptr<const ModelSchedule> schedule;

  Normalization normalization = Normalization::from_geometry;  ///< see Normalization
  double mix_tau = 1.0;     ///< mix_ln: time at which Post-LN switches to Pre-LN
  double ngpt_alpha = 1.0;  ///< ngpt: step size α of the normalised update
  double noise = 0.0;  ///< temperature 1/κ: dX = F dt + √(2/κ) dW ([R] §7); 0 = deterministic
  std::uint64_t noise_seed = 0;  ///< seed of the Brownian increments

  /// sigmoid: the bias b; NaN means the default b = −log N (N tokens), see docs/kernels.md.
  double sigmoid_bias = std::numeric_limits<double>::quiet_NaN();
  /// sinkhorn: at most this many row normalisations (1 = softmax).
  int sinkhorn_iters = 100;
  /// sinkhorn: stop once the column marginals are met to this relative accuracy.
  double sinkhorn_tol = 1e-10;
};

/// A model with one head Q = K = V = I_d: the setting of [R] (SA / USA with identity weights).
Model identity_model(Index d, double beta, KernelKind kernel = KernelKind::softmax,
                     Geometry geometry = Geometry::sphere);

/// Checks shapes and values against the token dimension d; throws InputError naming the key
/// ("model.V", or "model.heads[1].V" when the heads were given as a list) with what is allowed.
void validate_model(const Model& model, Index d, bool heads_listed = false);

/// The scheme a model runs: its normalization, with from_geometry resolved (sphere: post_ln,
/// euclidean: none).
Normalization effective_normalization(const Model& model);

/// "none", "post_ln", "pre_ln", "mix_ln", "peri_ln", "ngpt", "sqrt_scaling" ("from_geometry" for
/// the default).
std::string_view normalization_name(Normalization normalization);

/// Looks a scheme up by name; throws InputError(key, "unknown ... allowed: ...").
Normalization normalization_from_name(std::string_view name, const std::string& key);

/// "per_head" / "shared".
std::string_view head_normalization_name(HeadNormalization h);

/// Looks a head normalisation up by name; throws InputError(key, "unknown ... allowed: ...").
HeadNormalization head_normalization_from_name(std::string_view name, const std::string& key);

/// "float64" / "float32".
std::string_view precision_name(Precision p);

/// Looks a precision up by name; throws InputError(key, "unknown precision ... allowed: ...").
Precision precision_from_name(std::string_view name, const std::string& key);

/// Token dimension d implied by the model's first head.
Index model_dimension(const Model& model);

/// Sets the heads and β to their values at time t from model.schedule ([M]); a no-op without one.
void apply_schedule(Model& model, double t);

}  // namespace attnflow
