#include "attnflow/observables.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "attnflow/analysis/metastability.hpp"
#include "attnflow/analysis/spectra.hpp"
#include "attnflow/analysis/stationary.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/error.hpp"
#include "attnflow/reduce/gaussian.hpp"
#include "attnflow/time_energy.hpp"

namespace attnflow {

std::string observable_names() {
  std::string names;
  for (const ObservableInfo& o : kObservables) {
    if (!names.empty()) names += ", ";
    names += o.name;
  }
  return names;
}

void validate_observables(const std::vector<std::string>& names, const Model& model,
                          const std::string& key) {
  for (const std::string& name : names) {
    const ObservableInfo* found = nullptr;
    for (const ObservableInfo& o : kObservables)
      if (o.name == name) found = &o;
    if (found == nullptr)
      throw InputError(key, "unknown observable '" + name + "'; allowed: " + observable_names());
    if (found->needs_unmasked && model.causal)
      throw InputError(
          key, "'" + name + "' is defined for unmasked attention only (model.causal = true)");
    if (found->needs_sinkhorn && model.kernel != KernelKind::sinkhorn)
      throw InputError(key, "'" + name + "' is defined for kernel = \"sinkhorn\" only");
    if (name == "stationarity") analysis::interaction_matrix(model, key);  // one head, D symmetric
    if (name == "dissipation_residual" && model.noise > 0.0)
      throw InputError(key,
                       "'dissipation_residual' integrates the chain rule along a deterministic "
                       "path; with model.noise > 0 Ito's formula adds a term it does not contain");
    if (is_gaussian_observable(name)) {
      const bool kernel_ok = model.kernel == KernelKind::softmax ||
                             model.kernel == KernelKind::l2 || model.kernel == KernelKind::sinkhorn;
      if (model.geometry != Geometry::euclidean || !kernel_ok)
        throw InputError(key, "'" + name +
                                  "' compares with the Gaussian solution of [C], which exists for "
                                  "geometry = \"euclidean\" and kernel softmax, l2 or sinkhorn");
    }
  }
}

bool is_gaussian_observable(std::string_view name) {
  return name == "gaussian_w2" || name == "gaussian_mean_error" || name == "gaussian_cov_error";
}

ObservableSet::ObservableSet(std::vector<std::string> names, double cluster_threshold)
    : names_(std::move(names)), threshold_(cluster_threshold) {}

Quadrature* ObservableSet::quadrature(const Dynamics& dynamics, double t0, const Matrix& x0) {
  if (std::find(names_.begin(), names_.end(), "dissipation_residual") == names_.end())
    return nullptr;
  const AttentionField& field = dynamics.field();
  dissipation_ =
      std::make_unique<DissipationIntegral>(field.model(), field.weights(), field.positions());
  dissipation_->start(t0, x0);
  return dissipation_.get();
}

std::vector<double> ObservableSet::evaluate(double t, const Matrix& x, Dynamics& dynamics) {
  dynamics.set_time(t);  // energies at time t use the weights of time t ([M])
  const AttentionField& field = dynamics.field();
  const Measure measure{x, field.weights(), field.positions()};
  std::vector<double> values;
  values.reserve(names_.size());
  last_clusters_.reset();
  for (const std::string& name : names_) {
    if (name == "energy") {
      values.push_back(interaction_energy(field.model(), measure).value);
    } else if (name == "energy_b") {
      values.push_back(interaction_energy_b(field.model(), measure).value);
    } else if (name == "energy_rate") {
      Matrix v;
      dynamics.velocity(t, x, v);
      values.push_back(energy_rate(field.model(), measure, v));
    } else if (name == "energy_t") {
      values.push_back(time_energy(interaction_matrices(field.model()), measure).value);
    } else if (name == "energy_dt") {
      // The derivative of the piece just integrated (the left one at a kink of OU weights).
      values.push_back(time_energy_partial_t(interaction_matrices(field.model()),
                                             interaction_matrix_rates(field.model(), t, t - 1.0),
                                             measure));
    } else if (name == "dissipation_residual") {
      if (!dissipation_)
        throw std::logic_error("dissipation_residual: ObservableSet::quadrature() was not called");
      values.push_back(dissipation_->residual(t, x));
    } else if (name == "normalized_energy") {
      values.push_back(normalized_energy(field.model().beta, measure));
    } else if (name == "clusters" || name == "pair_fraction") {
      if (!last_clusters_) last_clusters_ = clusters(x, threshold_);
      values.push_back(name == "clusters" ? static_cast<double>(last_clusters_->count)
                                          : last_clusters_->pair_fraction);
    } else if (name == "mean_cosine") {
      values.push_back(mean_cosine(x));
    } else if (name == "speed") {
      Matrix v;
      dynamics.velocity(t, x, v);
      values.push_back(analysis::l2_speed(v, field.weights()));
    } else if (name == "largest_cluster") {
      if (!last_clusters_) last_clusters_ = clusters(x, threshold_);
      std::vector<double> mass(static_cast<std::size_t>(last_clusters_->count), 0.0);
      for (std::size_t i = 0; i < last_clusters_->labels.size(); ++i)
        mass[static_cast<std::size_t>(last_clusters_->labels[i])] += field.weights()[i];
      values.push_back(mass.empty() ? 0.0 : *std::max_element(mass.begin(), mass.end()));
    } else if (name == "stationarity") {
      values.push_back(
          analysis::stationarity_residual(
              analysis::interaction_matrix(field.model(), "output.observables"), measure)
              .residual);
    } else if (name == "anisotropy") {
      values.push_back(analysis::gram_spectra(measure).second_moment.anisotropy);
    } else if (is_gaussian_observable(name)) {
      // The reference frame at this output time (hit exactly by the integrators), if any.
      std::size_t k = 0;
      while (k < gaussian_.times.size() &&
             std::fabs(gaussian_.times[k] - t) > 1e-9 * std::max(1.0, std::fabs(t)))
        ++k;
      if (k == gaussian_.times.size()) {
        values.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      Vector mean;
      Matrix cov;
      reduce::empirical_moments(x, field.weights(), mean, cov);
      if (name == "gaussian_w2") {
        values.push_back(reduce::gaussian_w2(mean, cov, gaussian_.means[k], gaussian_.covs[k]));
      } else if (name == "gaussian_mean_error") {
        values.push_back((mean - gaussian_.means[k]).norm());
      } else {
        values.push_back((cov - gaussian_.covs[k]).norm());
      }
    } else if (name == "sinkhorn_error") {
      Matrix v;
      dynamics.velocity(t, x, v);
      values.push_back(dynamics.field().last_sinkhorn().marginal_error);
    }
  }
  return values;
}

}  // namespace attnflow
