#include "attnflow/analysis/metastability.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnflow::analysis {

std::vector<Plateau> find_plateaus(const std::vector<double>& t, const std::vector<double>& y,
                                   const PlateauOptions& options) {
  std::vector<Plateau> out;
  const std::size_t n = std::min(t.size(), y.size());
  std::size_t a = 0;
  while (a < n) {
    if (!std::isfinite(y[a])) {
      ++a;
      continue;
    }
    double lo = y[a], hi = y[a];
    std::size_t b = a;
    while (b + 1 < n && std::isfinite(y[b + 1]) &&
           std::max(hi, y[b + 1]) - std::min(lo, y[b + 1]) <= options.tolerance) {
      ++b;
      lo = std::min(lo, y[b]);
      hi = std::max(hi, y[b]);
    }
    if (t[b] - t[a] >= options.min_duration && b > a) {
      double sum = 0.0;
      for (std::size_t k = a; k <= b; ++k) sum += y[k];
      out.push_back({a, b, t[a], t[b], sum / static_cast<double>(b - a + 1), lo, hi});
      a = b + 1;
    } else {
      ++a;
    }
  }
  return out;
}

std::vector<MergeEvent> merge_events(const std::vector<double>& t,
                                     const std::vector<std::int64_t>& counts) {
  std::vector<MergeEvent> out;
  for (std::size_t k = 1; k < std::min(t.size(), counts.size()); ++k)
    if (counts[k] < counts[k - 1]) out.push_back({k, t[k - 1], t[k], counts[k - 1], counts[k]});
  return out;
}

double l2_speed(const Matrix& v, const std::vector<double>& weights) {
  double sum = 0.0;
  for (Index i = 0; i < v.rows(); ++i)
    sum += weights[static_cast<std::size_t>(i)] * v.row(i).squaredNorm();
  return std::sqrt(sum);
}

std::vector<double> arc_length_time(const std::vector<double>& t,
                                    const std::vector<double>& speeds) {
  std::vector<double> s(t.size(), 0.0);
  for (std::size_t k = 1; k < t.size(); ++k)
    s[k] = s[k - 1] + 0.5 * (t[k] - t[k - 1]) * (speeds[k] + speeds[k - 1]);
  return s;
}

std::vector<double> chord_length_time(const std::vector<Matrix>& frames,
                                      const std::vector<double>& weights) {
  std::vector<double> s(frames.size(), 0.0);
  for (std::size_t k = 1; k < frames.size(); ++k)
    s[k] = s[k - 1] + l2_speed(frames[k] - frames[k - 1], weights);
  return s;
}

double closest_cluster_cosine(const Matrix& x, const std::vector<std::int64_t>& labels) {
  double best = -std::numeric_limits<double>::infinity();
  Matrix u = x;
  for (Index i = 0; i < u.rows(); ++i) {
    const double norm = u.row(i).norm();
    if (norm > 0.0) u.row(i) /= norm;
  }
  for (Index i = 0; i < u.rows(); ++i)
    for (Index j = i + 1; j < u.rows(); ++j)
      if (labels[static_cast<std::size_t>(i)] != labels[static_cast<std::size_t>(j)])
        best = std::max(best, u.row(i).dot(u.row(j)));
  return best;
}

std::vector<double> closest_pair_time(const std::vector<double>& t,
                                      const std::vector<double>& closest_cosines, double beta) {
  std::vector<double> rate(t.size());
  for (std::size_t k = 0; k < t.size(); ++k) rate[k] = std::exp(-beta * (1.0 - closest_cosines[k]));
  return arc_length_time(t, rate);
}

}  // namespace attnflow::analysis
