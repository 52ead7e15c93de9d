#include "attnflow/analysis/cluster_report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnflow/error.hpp"

namespace attnflow::analysis {

std::string_view cluster_method_name(ClusterMethod method) {
  return method == ClusterMethod::exact ? "exact" : "spatial";
}

ClusterMethod cluster_method_from_name(std::string_view name, const std::string& key) {
  if (name == "exact") return ClusterMethod::exact;
  if (name == "spatial") return ClusterMethod::spatial;
  std::string message = "unknown method '";
  message += name;
  message += "'; allowed: exact, spatial";
  throw InputError(key, message);
}

void validate_cluster_threshold(double delta, const std::string& key) {
  if (!(delta > 0.0 && delta < 2.0))
    throw InputError(key, "must lie in (0, 2), got " + format_number(delta));
}

ClusterReport cluster_report(const Matrix& x, const std::vector<double>& weights, double delta,
                             ClusterMethod method) {
  ClusterReport r;
  r.summary = method == ClusterMethod::exact ? clusters(x, delta) : clusters_spatial(x, delta);
  const auto count = static_cast<std::size_t>(r.summary.count);
  r.sizes.assign(count, 0);
  r.masses.assign(count, 0.0);
  r.centres = Matrix::Zero(static_cast<Index>(count), x.cols());
  for (Index i = 0; i < x.rows(); ++i) {
    const auto label = static_cast<std::size_t>(r.summary.labels[static_cast<std::size_t>(i)]);
    const double w = weights[static_cast<std::size_t>(i)];
    ++r.sizes[label];
    r.masses[label] += w;
    const double norm = x.row(i).norm();
    if (norm > 0.0) r.centres.row(static_cast<Index>(label)) += (w / norm) * x.row(i);
  }
  for (Index c = 0; c < r.centres.rows(); ++c) {
    const double norm = r.centres.row(c).norm();
    if (norm > 0.0) r.centres.row(c) /= norm;
  }
  return r;
}

double quantile(std::vector<double> values, double q) {
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(position));
  const std::size_t upper = std::min(lower + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(lower);
  return values[lower] + fraction * (values[upper] - values[lower]);
}

double median(const std::vector<double>& values) {
  return quantile(values, 0.5);
}

double finite_mean(const std::vector<double>& values) {
  double sum = 0.0;
  std::size_t count = 0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++count;
    }
  return count > 0 ? sum / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace attnflow::analysis
