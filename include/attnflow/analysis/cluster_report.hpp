#pragma once
// Cluster analysis beyond the count ([R] §4, SPEC §4): sizes, masses and centres of the connected
// components of the δ-similarity graph ⟨x̂_i, x̂_j⟩ > 1 − δ, by either of two methods that give the
// same answer, and the batch statistics (median, quantiles) the phase diagrams of [R] use.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/clusters.hpp"
#include "attnflow/types.hpp"

namespace attnflow::analysis {

/// How the δ-similarity graph is searched: all pairs (any d) or a grid of cells (d ≤ 3).
enum class ClusterMethod {
  exact,    ///< O(N²d) streaming over all pairs (clusters())
  spatial,  ///< uniform grid on the directions, same answer (clusters_spatial())
};

/// "exact" / "spatial".
std::string_view cluster_method_name(ClusterMethod method);

/// Looks a method up by name; throws InputError(key, "unknown method ...; allowed: exact,
/// spatial").
ClusterMethod cluster_method_from_name(std::string_view name, const std::string& key);

/// Checks a cluster threshold δ ∈ (0, 2) (the link ⟨x̂_i, x̂_j⟩ > 1 − δ is then neither empty nor
/// complete by definition); throws InputError(key, "must lie in (0, 2), got ...").
void validate_cluster_threshold(double delta, const std::string& key);

/// Components of the δ-similarity graph with their sizes, masses and centres.
struct ClusterReport {
  ClusterSummary summary;           ///< count, pair fraction, labels (first-appearance order)
  std::vector<std::int64_t> sizes;  ///< tokens per cluster, by label
  std::vector<double> masses;       ///< Σ w_i over the cluster, by label
  Matrix centres;                   ///< count × d: normalised mass-weighted mean direction
                                    ///< (zero row if that mean vanishes)
};

/// The components of [R] §4 (tokens linked when ⟨x̂_i, x̂_j⟩ > 1 − δ) with sizes, masses
/// (weights w, Σ w = 1) and centres, found by `method`.
ClusterReport cluster_report(const Matrix& x, const std::vector<double>& weights, double delta,
                             ClusterMethod method = ClusterMethod::exact);

/// The q-quantile (q ∈ [0, 1]) of the finite values, with linear interpolation between order
/// statistics (NumPy's default "linear" rule: position q·(n − 1)); NaN if there is none.
double quantile(std::vector<double> values, double q);

/// Median = quantile(values, 0.5).
double median(const std::vector<double>& values);

/// Mean of the finite values (summed in index order); NaN if there is none.
double finite_mean(const std::vector<double>& values);

}  // namespace attnflow::analysis
