#include "attnflow/analysis/stability.hpp"

#include <cmath>
#include <memory>

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
  // A time-dependent matrix is overwritten by its schedule at every evaluation: its perturbation
  // goes into the schedule as a constant offset, M(t) + εΞ, as well as into the current value.
  std::shared_ptr<ModelSchedule> schedule =
      model.schedule ? std::make_shared<ModelSchedule>(*model.schedule) : nullptr;
  if (schedule) schedule->offsets.resize(schedule->heads.size());
  auto perturb = [&](Matrix& m, Matrix* offset) {
    const double scale = eps / std::sqrt(static_cast<double>(m.cols()));
    Matrix xi(m.rows(), m.cols());
    for (Index k = 0; k < xi.size(); ++k) xi.data()[k] = scale * rng.normal();
    m += xi;
    if (offset != nullptr) *offset = xi;
  };
  for (std::size_t h = 0; h < out.heads.size(); ++h) {
    Head& head = out.heads[h];
    const HeadSchedule* hs = schedule ? &schedule->heads[h] : nullptr;
    HeadOffsets* off = schedule ? &schedule->offsets[h] : nullptr;
    // An offset adds to what is already there (a perturbation of a perturbed model).
    auto slot = [&](const MatrixSchedule* m, Matrix* o) -> Matrix* {
      return m != nullptr && !m->is_constant() ? o : nullptr;
    };
    Matrix dq, dk, dv, dw;
    perturb(head.Q, slot(hs ? &hs->Q : nullptr, &dq));
    perturb(head.K, slot(hs ? &hs->K : nullptr, &dk));
    perturb(head.V, slot(hs ? &hs->V : nullptr, &dv));
    if (head.W.size() > 0) perturb(head.W, slot(hs ? &hs->W : nullptr, &dw));
    if (off != nullptr) {
      auto add = [](Matrix& total, const Matrix& d) {
        if (d.size() == 0) return;
        if (total.size() == 0)
          total = d;
        else
          total += d;
      };
      add(off->Q, dq);
      add(off->K, dk);
      add(off->V, dv);
      add(off->W, dw);
    }
  }
  if (schedule) out.schedule = std::move(schedule);
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
