#include "attnflow/measure.hpp"

#include <cmath>
#include <string>

#include "attnflow/error.hpp"

namespace attnflow {

Measure uniform_measure(Matrix x) {
  Measure m;
  const Index n = x.rows();
  m.x = std::move(x);
  m.weights.assign(static_cast<std::size_t>(n), n > 0 ? 1.0 / static_cast<double>(n) : 0.0);
  m.positions.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) m.positions[static_cast<std::size_t>(i)] = static_cast<double>(i);
  return m;
}

void validate_measure(const Measure& measure, bool on_sphere, const std::string& key) {
  const Index n = measure.n();
  if (n == 0) throw InputError(key + ".n", "must be at least 1, got 0");
  if (measure.d() == 0) throw InputError(key + ".d", "must be at least 1, got 0");
  if (!measure.x.allFinite()) throw InputError(key, "token coordinates must be finite numbers");
  if (measure.weights.size() != static_cast<std::size_t>(n))
    throw InputError(key + ".weights", "must have one entry per token (" + std::to_string(n) +
                                           "), got " + std::to_string(measure.weights.size()));
  if (measure.positions.size() != static_cast<std::size_t>(n))
    throw InputError(key + ".positions", "must have one entry per token (" + std::to_string(n) +
                                             "), got " + std::to_string(measure.positions.size()));
  double total = 0.0;
  for (double w : measure.weights) {
    if (!std::isfinite(w) || w < 0.0) throw InputError(key + ".weights", "must be finite and >= 0");
    total += w;
  }
  if (std::fabs(total - 1.0) > 1e-9)
    throw InputError(key + ".weights", "must sum to 1, got " + format_number(total));
  for (double p : measure.positions)
    if (!std::isfinite(p)) throw InputError(key + ".positions", "must be finite numbers");
  if (on_sphere) {
    for (Index i = 0; i < n; ++i) {
      const double norm = measure.x.row(i).norm();
      if (std::fabs(norm - 1.0) > 1e-9)
        throw InputError(key, "token " + std::to_string(i) + " has norm " + format_number(norm) +
                                  "; geometry 'sphere' needs unit vectors (|x| = 1 within 1e-9)");
    }
  }
}

}  // namespace attnflow
