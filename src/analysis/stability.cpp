#include "attnflow/analysis/stability.hpp"

#include <cmath>

#include "attnflow/dynamics.hpp"
#include "attnflow/rng.hpp"

namespace attnflow::analysis {

std::uint64_t perturbation_seed(std::uint64_t seed, std::uint64_t stream) {
  // SplitMix64 finaliser of seed + stream·golden ratio.
  std::uint64_t z = seed + (stream + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Measure perturb_tokens(const Measure& measure, double eps, std::uint64_t seed, bool on_sphere) {
  Measure out = measure;
  Rng rng(perturbation_seed(seed, 0));
  const double scale = eps / std::sqrt(static_cast<double>(measure.d()));
  for (Index i = 0; i < out.n(); ++i) {
    for (Index c = 0; c < out.d(); ++c) out.x(i, c) += scale * rng.normal();
    if (on_sphere) out.x.row(i) /= out.x.row(i).norm();
  }
  return out;
}

Model perturb_weights(const Model& model, double eps, std::uint64_t seed) {
  Model out = model;
  Rng rng(perturbation_seed(seed, 1));
  auto perturb = [&](Matrix& m) {
    const double scale = eps / std::sqrt(static_cast<double>(m.cols()));
    for (Index k = 0; k < m.size(); ++k) m.data()[k] += scale * rng.normal();
  };
  for (Head& h : out.heads) {
    perturb(h.Q);
    perturb(h.K);
    perturb(h.V);
    if (h.W.size() > 0) perturb(h.W);
  }
  return out;
}

std::vector<double> w2_between_flows(const Model& model_a, const Measure& mu, const Model& model_b,
                                     const Measure& nu, const std::vector<double>& times,
                                     const IntegrateOptions& options, const W2Options& w2) {
  std::vector<Matrix> frames(times.size());
  Dynamics a(AttentionField(model_a, mu.weights, mu.positions));
  Matrix x = mu.x;
  integrate(a, x, times, options,
            [&](std::size_t k, double, const Matrix& state) { frames[k] = state; });
  std::vector<double> out(times.size());
  Dynamics b(AttentionField(model_b, nu.weights, nu.positions));
  Matrix y = nu.x;
  integrate(b, y, times, options, [&](std::size_t k, double, const Matrix& state) {
    out[k] = w2_distance(frames[k], mu.weights, mu.positions, state, nu.weights, nu.positions, w2);
  });
  return out;
}

}  // namespace attnflow::analysis
