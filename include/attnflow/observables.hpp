#pragma once
// The observables a run can record at its output times: one registry feeding the TOML names,
// the HDF5 dataset names and the tests (DESIGN principle 3). Each is a pure function of the state.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/clusters.hpp"
#include "attnflow/dissipation.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/measure.hpp"

namespace attnflow {

/// One registered observable.
struct ObservableInfo {
  std::string_view name;
  std::string_view summary;
  bool needs_unmasked;  ///< defined for unmasked attention only (energies)
  bool needs_sinkhorn;  ///< defined for the sinkhorn kernel only
};

/// Every scalar observable, in display order. The HDF5 dataset is /<name>.
inline constexpr std::array<ObservableInfo, 18> kObservables{{
    {"energy", "E = 1/(2 beta) sum_h  sum_ij w_i w_j exp(beta <Q_h x_i, K_h x_j>)  [R] E_beta",
     true, false},
    {"energy_b", "1/2 sum_h sum_ij w_i w_j exp(<x_i, D_h x_j>), D_h = beta Q_h^T K_h  [B]", true,
     false},
    {"energy_rate", "dE/dt = sum_i <grad_i E, dx_i/dt>: the exact dissipation along the run", true,
     false},
    {"energy_t",
     "E(t) = 1/(2H) sum_h sum_ij w_i w_j exp(<x_i, D_h(t) x_j>), D_h = beta Q_h^T K_h  [M]", true,
     false},
    {"energy_dt", "partial_t E(t): the weights' contribution to dE(t)/dt at fixed tokens  [M]",
     true, false},
    {"dissipation_residual",
     "E(t) - E(0) - int (partial_s E + sum_i <grad_i E, dx_i/ds>) ds: [M]'s energy identity, -> 0 "
     "at the integrator's order",
     true, false},
    {"normalized_energy", "sum_ij w_i w_j exp(beta(<x_i,x_j> - 1))  [R] (1 iff one cluster)", false,
     false},
    {"clusters", "number of connected components of <x_i,x_j> > 1 - delta (directions)", false,
     false},
    {"pair_fraction", "fraction of pairs i<j with <x_i,x_j> > 1 - delta", false, false},
    {"mean_cosine", "mean of <x_i,x_j>/(|x_i||x_j|) over pairs i != j", false, false},
    {"sinkhorn_error",
     "max_j |sum_i w_i a_ij / w_j - 1|: column marginal error of the Sinkhorn plan", false, true},
    {"gaussian_w2",
     "W2 (Bures) between N(token mean, token cov) and the Gaussian solution of the PDE  [C]", true,
     false},
    {"gaussian_mean_error", "|token mean - m(t)|, m(t) the mean of the Gaussian solution  [C]",
     true, false},
    {"gaussian_cov_error",
     "|token cov - Sigma(t)|_F, Sigma(t) the covariance of the Gaussian solution  [C]", true,
     false},
    {"speed",
     "|dx/dt|_{L2(mu)} = (sum_i w_i |dx_i/dt|^2)^(1/2): ds/dt of the normalised-gradient time  [R]",
     false, false},
    {"largest_cluster", "mass of the largest component of <x_i,x_j> > 1 - delta", false, false},
    {"stationarity",
     "max_i |P_perp grad Z(x_i)|, Z(x) = sum_j w_j exp(<x, D x_j>): [B] residual (one head, D "
     "sym.)",
     true, false},
    {"anisotropy", "lambda_max / trace of sum_i w_i x_i x_i^T (1/d isotropic, 1 rank one)", false,
     false},
}};

/// "energy, energy_b, ...": the allowed names, for messages and help.
std::string observable_names();

/// Checks every name against the registry and the model; throws InputError(key, ...).
void validate_observables(const std::vector<std::string>& names, const Model& model,
                          const std::string& key);

/// Whether `name` is one of the gaussian_* observables (they need the Gaussian solution of [C]).
bool is_gaussian_observable(std::string_view name);

/// The Gaussian solution (m(t), Σ(t)) at the output times, which gaussian_* observables compare the
/// tokens' moments with (reduce/gaussian.hpp; frames after a blow-up are missing → NaN).
struct GaussianReference {
  std::vector<double> times;
  std::vector<Vector> means;
  std::vector<Matrix> covs;
};

/// Computes the requested observables at one state, sharing work between them (one cluster pass,
/// one velocity evaluation).
class ObservableSet {
 public:
  ObservableSet(std::vector<std::string> names, double cluster_threshold);

  /// Sets the Gaussian solution the gaussian_* observables compare with.
  void set_gaussian_reference(GaussianReference reference) { gaussian_ = std::move(reference); }

  const std::vector<std::string>& names() const { return names_; }

  /// What integrate() must carry along for these observables (dissipation_residual: the integral of
  /// [M]'s identity, started at (t0, x0)), or null. Pass it to integrate().
  Quadrature* quadrature(const Dynamics& dynamics, double t0, const Matrix& x0);

  /// Values in the order of names(); the last cluster summary is kept for run summaries.
  std::vector<double> evaluate(double t, const Matrix& x, Dynamics& dynamics);

  /// The cluster summary of the last evaluate() that needed one.
  const std::optional<ClusterSummary>& last_clusters() const { return last_clusters_; }

 private:
  std::vector<std::string> names_;
  double threshold_;
  std::optional<ClusterSummary> last_clusters_;
  GaussianReference gaussian_;
  std::unique_ptr<DissipationIntegral> dissipation_;
};

}  // namespace attnflow
