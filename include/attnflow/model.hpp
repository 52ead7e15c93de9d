#pragma once
// The attention model: heads (Q, K, V, W), inverse temperature β, kernel, mask and geometry.
// [C] §2 (multi-head Transformer PDE), [R] §2 (SA / USA on the sphere).
#include <limits>
#include <string>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow {

/// Where tokens live: R^d ([C], no normalisation) or the unit sphere S^{d-1} (Post-LN, [B], [R]).
enum class Geometry { euclidean, sphere };

/// How attention weights a_ij are formed from scores s_ij = β⟨Q x_i, K x_j⟩ (SPEC §1 table).
enum class KernelKind {
  softmax,   ///< a_ij = w_j e^{s_ij} / Σ_k w_k e^{s_ik}              [R] (SA), [C]
  usa,       ///< a_ij = w_j e^{s_ij}, no partition function           [R] (USA)
  l2,        ///< softmax of s_ij = −β‖Q x_i − K x_j‖²                 [C] (L2 attention)
  sigmoid,   ///< a_ij = w_j e^{−b} σ(s_ij + b), not normalised         [C] (sigmoid attention)
  sinkhorn,  ///< doubly stochastic scaling of w_j e^{s_ij}             [C] (Sinkformers)
  hardmax,   ///< uniform (mass-weighted) over argmax_j s_ij: β → ∞    [R], optional limit
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
  double beta = 1.0;         ///< inverse temperature β > 0
  std::vector<Head> heads;   ///< at least one head
  bool causal = false;       ///< a_ij = 0 unless position_j ≤ position_i ([C] masked attention)

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

/// Token dimension d implied by the model's first head.
Index model_dimension(const Model& model);

}  // namespace attnflow
