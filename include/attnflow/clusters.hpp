#pragma once
// Cluster analysis of [R] §4: tokens i, j are linked when ⟨x̂_i, x̂_j⟩ > 1 − δ (x̂ = x/|x|);
// clusters are the connected components of that graph.
#include <cstdint>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow {

/// The δ-similarity graph summarised.
struct ClusterSummary {
  std::int64_t count = 0;            ///< number of connected components
  double pair_fraction = 0.0;        ///< fraction of pairs i < j with ⟨x̂_i, x̂_j⟩ > 1 − δ
  std::vector<std::int64_t> labels;  ///< component of each token, numbered by first appearance
};

/// Connected components of the δ-similarity graph (exact, O(N²d), deterministic).
ClusterSummary clusters(const Matrix& x, double delta);

/// The same graph and the same result as clusters() (bitwise: same labels, same pair count) for
/// d ≤ 3, found with a uniform grid of cells of side ≈ √(2δ) on the directions: ⟨x̂_i, x̂_j⟩ > 1 − δ
/// implies |x̂_i − x̂_j| < √(2δ), so only pairs in neighbouring cells are tested, with the same
/// floating-point predicate. O(N + linked pairs + pairs in neighbouring cells) instead of O(N²).
/// Throws InputError("clusters.method", ...) for d > 3.
ClusterSummary clusters_spatial(const Matrix& x, double delta);

/// Mean of ⟨x̂_i, x̂_j⟩ over pairs i ≠ j (1 when all directions coincide), in O(Nd).
double mean_cosine(const Matrix& x);

}  // namespace attnflow
