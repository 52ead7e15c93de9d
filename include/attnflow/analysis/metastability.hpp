#pragma once
// Metastability ([R] §5 "Metastability and the formation of multiple clusters"; Geshkovski,
// Koubbi, Polyanskiy, Rigollet, arXiv 2410.06833): long plateaus of the cluster count and of the
// normalised energy 1/n² Σ e^{β(⟨x_i,x_j⟩−1)}, the merge events between them, and the energy
// "staircase" against a rescaled time. All functions are pure and work on sampled series.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow::analysis {

/// A maximal run of frames over which a series stays within a tolerance band.
struct Plateau {
  std::size_t first = 0;  ///< first frame of the run
  std::size_t last = 0;   ///< last frame of the run (inclusive)
  double t_start = 0.0;   ///< time of `first`
  double t_end = 0.0;     ///< time of `last`
  double value = 0.0;     ///< mean of the series over the run (frames in index order)
  double min = 0.0;       ///< smallest value on the run
  double max = 0.0;       ///< largest value on the run
};

/// What counts as a plateau.
struct PlateauOptions {
  double tolerance = 0.0;     ///< max − min over the run must be ≤ this (0: constant runs)
  double min_duration = 0.0;  ///< t_end − t_start must be ≥ this
};

/// Plateaus of y(t) (t non-decreasing, same length as y), left to right: from a start frame the
/// run is extended while max − min ≤ tolerance; a run lasting ≥ min_duration is kept and the next
/// search starts after it, otherwise the start moves one frame on. Non-finite values end runs.
std::vector<Plateau> find_plateaus(const std::vector<double>& t, const std::vector<double>& y,
                                   const PlateauOptions& options);

/// A decrease of the cluster count between two consecutive frames: a merge ([R] §5.2).
struct MergeEvent {
  std::size_t frame = 0;             ///< first frame with the lower count
  double t_before = 0.0;             ///< time of the frame before
  double t_after = 0.0;              ///< time of `frame`: the merge happened in (t_before, t_after]
  std::int64_t clusters_before = 0;  ///< count at t_before
  std::int64_t clusters_after = 0;   ///< count at t_after
};

/// Every frame-to-frame decrease of `counts` (one per frame pair, however many clusters merged).
std::vector<MergeEvent> merge_events(const std::vector<double>& t,
                                     const std::vector<std::int64_t>& counts);

/// ‖v‖_{L²(μ)} = (Σ_i w_i |v_i|²)^{1/2}: the Wasserstein speed of a velocity field v (N×d).
double l2_speed(const Matrix& v, const std::vector<double>& weights);

/// The normalised-gradient time s(t) = ∫_0^t ‖ẋ(τ)‖_{L²(μ)} dτ (trapezoid rule on the frames):
/// reparametrising a trajectory by s is running the normalised flow ẋ = v/‖v‖, the time change
/// under which [R]'s energy staircase (Fig. "rainbow", from arXiv 2410.06833) reaches its maximum
/// in finite time. speeds[k] = ‖ẋ(t_k)‖; s(t_0) = 0.
std::vector<double> arc_length_time(const std::vector<double>& t,
                                    const std::vector<double>& speeds);

/// The chord approximation of s from frames alone: s_k = Σ_{m<k} ‖x(t_{m+1}) − x(t_m)‖_{L²(μ)};
/// a lower bound of arc_length_time that converges to it as the frames get denser.
std::vector<double> chord_length_time(const std::vector<Matrix>& frames,
                                      const std::vector<double>& weights);

/// max over pairs i, j in different clusters of ⟨x̂_i, x̂_j⟩ (−∞ with fewer than two clusters):
/// the closest pair of clusters, which merges first when β → ∞ ([R] Thm. "agazzi_merge").
double closest_cluster_cosine(const Matrix& x, const std::vector<std::int64_t>& labels);

/// The closest-pair time change of [R] Thm. (bruno2025multiscale): dt = e^{β(1−ρ*)} ds with ρ*
/// the closest inter-cluster cosine, applied frame by frame: s(t) = ∫ e^{−β(1−ρ*(τ))} dτ by the
/// trapezoid rule (terms with ρ* = −∞, i.e. one cluster, contribute 0).
std::vector<double> closest_pair_time(const std::vector<double>& t,
                                      const std::vector<double>& closest_cosines, double beta);

}  // namespace attnflow::analysis
