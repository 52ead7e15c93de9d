#include "attnflow/reduce/equiangular.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "attnflow/error.hpp"

namespace attnflow::reduce {

namespace {

/// The scheme in force at time t (mix_ln is Post-LN before τ, Pre-LN from τ on).
Normalization active_scheme(const EquiangularParams& p, double t) {
  if (p.scheme != Normalization::mix_ln) return p.scheme;
  return t < p.mix_switch_time ? Normalization::post_ln : Normalization::pre_ln;
}

}  // namespace

bool normalization_has_radius(Normalization scheme) {
  return scheme == Normalization::pre_ln || scheme == Normalization::mix_ln ||
         scheme == Normalization::peri_ln;
}

void validate_equiangular(const EquiangularParams& p, double rho0, double r0,
                          const std::string& rho_key, const std::string& n_key) {
  if (p.n < 2)
    throw InputError(n_key,
                     "the equiangular model needs n >= 2 tokens, got " + std::to_string(p.n));
  if (!std::isfinite(p.beta) || p.beta < 0.0)
    throw InputError("--beta", "must be finite and >= 0, got " + format_number(p.beta));
  if (p.kernel != KernelKind::softmax && p.kernel != KernelKind::usa)
    throw InputError("--kernel", "the equiangular model is derived for sa (softmax) and usa only");
  if (p.scheme == Normalization::none || p.scheme == Normalization::from_geometry)
    throw InputError("--normalization",
                     "the equiangular model needs a normalisation scheme (attention on "
                     "directions); allowed: post_ln, pre_ln, mix_ln, peri_ln, ngpt, sqrt_scaling");
  const double lower = -1.0 / static_cast<double>(p.n - 1);
  // ρ0 = −1/(n−1) (the regular simplex) is an equilibrium; the admissible range is open
  // there.
  if (!std::isfinite(rho0) || rho0 <= lower || rho0 > 1.0)
    throw InputError(rho_key, "must lie in (-1/(n-1), 1] = (" + format_number(lower) +
                                  ", 1] for n = " + std::to_string(p.n) +
                                  " (at -1/(n-1), the regular simplex, nothing moves), got " +
                                  format_number(rho0));
  if (!std::isfinite(r0) || r0 <= 0.0)
    throw InputError("--r0", "must be finite and > 0, got " + format_number(r0));
  if (!std::isfinite(p.mix_switch_time) || p.mix_switch_time < 0.0)
    throw InputError("--mix-time",
                     "must be finite and >= 0, got " + format_number(p.mix_switch_time));
  if (!std::isfinite(p.ngpt_alpha) || p.ngpt_alpha <= 0.0)
    throw InputError("--alpha", "must be finite and > 0, got " + format_number(p.ngpt_alpha));
}

EquiangularWeights equiangular_weights(KernelKind kernel, Index n, double beta, double rho) {
  const double nn = static_cast<double>(n);
  if (kernel == KernelKind::usa) return {std::exp(beta) / nn, std::exp(beta * rho) / nn};
  // SA: Z = e^β + (n−1)e^{βρ}; divide through by e^{βρ} (resp. e^β) to stay finite.
  const double other = 1.0 / (std::exp(beta * (1.0 - rho)) + nn - 1.0);
  const double self = 1.0 / (1.0 + (nn - 1.0) * std::exp(-beta * (1.0 - rho)));
  return {self, other};
}

void equiangular_rhs(const EquiangularParams& p, double t, double rho, double r, double& rho_dot,
                     double& r_dot) {
  const double nn = static_cast<double>(p.n);
  const EquiangularWeights w = equiangular_weights(p.kernel, p.n, p.beta, rho);
  const double a = w.self, b = w.other;
  const double drive = 2.0 * b * (1.0 - rho) * (1.0 + (nn - 1.0) * rho);  // 2⟨P⊥A_i, θ_k⟩
  const double p_in = a + (nn - 1.0) * b * rho;                           // ⟨θ_i, A_i⟩
  auto norm_a = [&] {
    return std::sqrt(std::max(0.0, a * a + 2.0 * a * b * (nn - 1.0) * rho +
                                       b * b * (nn - 1.0) * (1.0 + (nn - 2.0) * rho)));
  };
  switch (active_scheme(p, t)) {
    case Normalization::post_ln:
    case Normalization::mix_ln:         // unreachable: active_scheme resolves mix_ln
    case Normalization::none:           // unreachable: refused by validate_equiangular
    case Normalization::from_geometry:  // unreachable: the command always names a scheme
      rho_dot = drive;
      r_dot = 0.0;
      return;
    case Normalization::pre_ln:
      rho_dot = drive / r;
      r_dot = p_in;
      return;
    case Normalization::peri_ln: {
      const double na = norm_a();
      rho_dot = drive / (r * na);
      r_dot = p_in / na;
      return;
    }
    case Normalization::ngpt:
      rho_dot = p.ngpt_alpha * drive / norm_a();
      r_dot = 0.0;
      return;
    case Normalization::sqrt_scaling:
      rho_dot = drive / std::sqrt(t + 1.0);
      r_dot = 0.0;
      return;
  }
}

void EquiangularFlow::velocity(double t, const Matrix& x, Matrix& v) {
  ++evaluations_;
  v.resize(1, 2);
  equiangular_rhs(params_, t, x(0, 0), x(0, 1), v(0, 0), v(0, 1));
}

std::vector<EquiangularFrame> solve_equiangular(const EquiangularParams& params, double rho0,
                                                double r0, const std::vector<double>& times,
                                                const IntegrateOptions& options) {
  std::vector<EquiangularFrame> frames;
  if (times.empty()) return frames;
  std::vector<double> grid = times;
  std::vector<bool> record(times.size(), true);
  if (params.scheme == Normalization::mix_ln && params.mix_switch_time > times.front() &&
      params.mix_switch_time < times.back() &&
      std::find(times.begin(), times.end(), params.mix_switch_time) == times.end()) {
    const auto at = std::upper_bound(grid.begin(), grid.end(), params.mix_switch_time);
    record.insert(record.begin() + (at - grid.begin()), false);
    grid.insert(at, params.mix_switch_time);
  }
  EquiangularFlow flow(params);
  Matrix x(1, 2);
  x << rho0, r0;
  integrate(flow, x, grid, options, [&](std::size_t k, double t, const Matrix& s) {
    if (record[k]) frames.push_back({t, s(0, 0), s(0, 1)});
  });
  return frames;
}

namespace {

/// The inverse system in the independent variable ρ: state (t, r), d/dρ (t, r) = (1, ṙ)/ρ̇.
class InverseEquiangularFlow : public OdeSystem {
 public:
  InverseEquiangularFlow(EquiangularParams params, Normalization scheme) : params_(params) {
    params_.scheme = scheme;
  }
  void velocity(double rho, const Matrix& x, Matrix& v) override {
    ++evaluations_;
    double rho_dot = 0.0, r_dot = 0.0;
    equiangular_rhs(params_, x(0, 0), rho, x(0, 1), rho_dot, r_dot);
    v.resize(1, 2);
    v(0, 0) = 1.0 / rho_dot;
    v(0, 1) = r_dot / rho_dot;
  }
  std::uint64_t evaluations() const override { return evaluations_; }

 private:
  EquiangularParams params_;
  std::uint64_t evaluations_ = 0;
};

/// t at which ρ reaches `threshold` under one fixed scheme, from (ρ0, r0) at time t0.
double inverse_hitting(const EquiangularParams& params, Normalization scheme, double rho0,
                       double r0, double t0, double threshold, const IntegrateOptions& options) {
  InverseEquiangularFlow flow(params, scheme);
  Matrix x(1, 2);
  x << t0, r0;
  IntegrateOptions opt = options;
  opt.method = Method::dopri5;
  opt.dt = 0.0;
  integrate(flow, x, {rho0, threshold}, opt, [](std::size_t, double, const Matrix&) {});
  return x(0, 0);
}

}  // namespace

double equiangular_hitting_time(const EquiangularParams& params, double rho0, double r0,
                                double threshold, const IntegrateOptions& options) {
  const double lower = -1.0 / static_cast<double>(params.n - 1);
  if (!std::isfinite(threshold) || threshold <= lower || threshold >= 1.0)
    throw InputError("--threshold", "must lie in (-1/(n-1), 1) = (" + format_number(lower) +
                                        ", 1), got " + format_number(threshold));
  if (rho0 >= threshold) return 0.0;
  // ρ0 = −1/(n−1): the regular simplex, where 1 + (n−1)ρ = 0 and ρ̇ = 0 (an equilibrium).
  if (1.0 + static_cast<double>(params.n - 1) * rho0 <= 0.0)
    return std::numeric_limits<double>::infinity();
  if (params.scheme != Normalization::mix_ln)
    return inverse_hitting(params, params.scheme, rho0, r0, 0.0, threshold, options);
  // Mix-LN: Post-LN on [0, τ]; if ρ(τ) is still below the threshold, Pre-LN from (ρ(τ), τ, r0).
  const std::vector<EquiangularFrame> at_switch =
      solve_equiangular(params, rho0, r0, {0.0, params.mix_switch_time}, options);
  const double rho_tau = at_switch.back().rho;
  if (rho_tau >= threshold)
    return inverse_hitting(params, Normalization::post_ln, rho0, r0, 0.0, threshold, options);
  return inverse_hitting(params, Normalization::pre_ln, rho_tau, r0, params.mix_switch_time,
                         threshold, options);
}

PairStatistics pair_statistics(const Matrix& x) {
  const Index n = x.rows();
  PairStatistics s;
  Matrix theta = x;
  for (Index i = 0; i < n; ++i) {
    const double r = x.row(i).norm();
    s.mean_radius += r / static_cast<double>(n);
    theta.row(i) /= r;
  }
  const Matrix gram = theta * theta.transpose();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0.0;
  for (Index i = 0; i < n; ++i)
    for (Index j = i + 1; j < n; ++j) {
      lo = std::min(lo, gram(i, j));
      hi = std::max(hi, gram(i, j));
      sum += gram(i, j);
    }
  const double pairs = 0.5 * static_cast<double>(n) * static_cast<double>(n - 1);
  s.mean_cosine = pairs > 0.0 ? sum / pairs : 1.0;
  s.spread = pairs > 0.0 ? hi - lo : 0.0;
  return s;
}

}  // namespace attnflow::reduce
