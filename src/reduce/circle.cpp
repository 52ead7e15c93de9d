#include "attnflow/reduce/circle.hpp"

#include <fftw3.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <numbers>
#include <numeric>
#include <utility>

#include "attnflow/error.hpp"
#include "attnflow/rng.hpp"

namespace attnflow::reduce {

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

/// Fewer tokens than this are summed on one thread (see CircleParticles::velocity).
constexpr Index kParallelAngles = 256;

// 8-point Gauss–Legendre rule on [−1, 1] (Abramowitz & Stegun, Table 25.4).
constexpr std::array<double, 8> kGlNodes{
    -0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
    0.1834346424956498,  0.5255324099163290,  0.7966664774136267,  0.9602898564975363};
constexpr std::array<double, 8> kGlWeights{
    0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
    0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};

/// ∫_a^b f by the 8-point Gauss–Legendre rule.
template <typename F>
double gauss_legendre(const F& f, double a, double b) {
  const double half = 0.5 * (b - a), mid = 0.5 * (a + b);
  double s = 0.0;
  for (std::size_t q = 0; q < kGlNodes.size(); ++q)
    s += kGlWeights[q] * f(mid + half * kGlNodes[q]);
  return s * half;
}

/// Slope of the monotonised-central (MC) limiter from the backward and forward differences.
inline double mc_slope(double back, double forward) {
  if (back * forward <= 0.0) return 0.0;
  const double m =
      std::min({2.0 * std::fabs(back), 2.0 * std::fabs(forward), 0.5 * std::fabs(back + forward)});
  return back > 0.0 ? m : -m;
}

double wrap_angle(double theta) {
  double p = std::fmod(theta, kTwoPi);
  if (p < 0.0) p += kTwoPi;
  if (p >= kTwoPi) p = 0.0;
  return p;
}

std::vector<double> uniform_weights_if_empty(std::vector<double> w, Index n) {
  if (w.empty()) w.assign(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
  return w;
}

}  // namespace

void validate_circle_model(KernelKind kernel, double beta, const std::string& prefix) {
  if (kernel != KernelKind::softmax && kernel != KernelKind::usa)
    throw InputError(prefix + ".kernel",
                     "the circle dynamics is defined for softmax (SA) and usa ([R] eq. "
                     "(kuramoto)); allowed: softmax, usa");
  if (!std::isfinite(beta) || beta < 0.0 || beta > kCircleMaxBeta)
    throw InputError(prefix + ".beta",
                     "must lie in [0, 700] (beta = 0 is the Kuramoto model; e^beta must "
                     "stay finite), got " +
                         format_number(beta));
}

// ---------------------------------------------------------------------------------------------
// Particles

void validate_circle_particles(KernelKind kernel, double beta, bool usa_rescaled_time,
                               const std::string& prefix) {
  if (kernel == KernelKind::usa && !usa_rescaled_time) {
    validate_circle_model(kernel, beta, prefix);
    return;
  }
  if (kernel != KernelKind::softmax && kernel != KernelKind::usa)
    throw InputError(prefix + ".kernel",
                     "the circle dynamics is defined for softmax (SA) and usa ([R] eq. "
                     "(kuramoto)); allowed: softmax, usa");
  if (!std::isfinite(beta) || beta < 0.0 || beta > kCircleParticleMaxBeta)
    throw InputError(prefix + ".beta", "must lie in [0, 1e6], got " + format_number(beta));
}

CircleParticles::CircleParticles(KernelKind kernel, double beta, std::vector<double> weights,
                                 CircleParticleOptions options)
    : kernel_(kernel), beta_(beta), weights_(std::move(weights)), options_(options) {
  validate_circle_particles(kernel, beta, options.usa_rescaled_time);
  if (!(options_.snap_distance >= 0.0) || !std::isfinite(options_.snap_distance))
    throw InputError("integrate.snap_distance",
                     "must be finite and >= 0, got " + format_number(options_.snap_distance));
}

void CircleParticles::velocity(double, const Matrix& x, Matrix& v) {
  ++evaluations_;
  const Index n = x.rows();
  if (weights_.empty()) weights_ = uniform_weights_if_empty({}, n);
  v.resize(n, 1);
  const bool usa = kernel_ == KernelKind::usa;
  const double scale = usa && !options_.usa_rescaled_time ? std::exp(beta_) : 1.0;
  const double* w = weights_.data();
  cos_.resize(static_cast<std::size_t>(n));
  sin_.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    cos_[static_cast<std::size_t>(i)] = std::cos(x(i, 0));
    sin_[static_cast<std::size_t>(i)] = std::sin(x(i, 0));
  }
  const double* c = cos_.data();
  const double* s = sin_.data();
  // cos(θ_i − θ_j) = c_i c_j + s_i s_j and sin(θ_i − θ_j) = s_i c_j − c_i s_j: one exp per pair.
  // The sine is formed per pair (not as s_i Σ e c_j − c_i Σ e s_j): for bitwise equal angles it is
  // then exactly 0, so a snapped cluster does not drown the e^{−β(1 − cos g)} pull of the others
  // in its own O(1) rounding error.
  // Small systems (the staircase's n = 5) stay on one thread: a parallel region per evaluation
  // costs more than the O(n²) sum and stalls whenever the machine is busy.
#pragma omp parallel for schedule(static) if (n > kParallelAngles)
  for (Index i = 0; i < n; ++i) {
    double num = 0.0, z = 0.0;
    for (Index j = 0; j < n; ++j) {
      const double e = w[j] * std::exp(beta_ * (c[i] * c[j] + s[i] * s[j] - 1.0));
      num += e * (s[i] * c[j] - c[i] * s[j]);  // Σ_j w_j e^{β(cos−1)} sin(θ_i − θ_j)
      z += e;
    }
    v(i, 0) = usa ? -scale * num : -num / z;
  }
}

void CircleParticles::retract(Matrix& x) {
  if (options_.snap_distance <= 0.0) return;
  if (weights_.empty()) weights_ = uniform_weights_if_empty({}, x.rows());
  circle_snap(x, weights_, options_.snap_distance);
}

namespace {

/// The tokens in angular order starting after the widest gap, with the gap from each token to the
/// next in that order (the last one closes the circle).
struct CircularOrder {
  std::vector<Index> index;
  std::vector<double> gap_to_next;
};

CircularOrder circular_order(const Matrix& angles) {
  const Index n = angles.rows();
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  std::vector<double> phi(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) phi[static_cast<std::size_t>(i)] = wrap_angle(angles(i, 0));
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
    return phi[static_cast<std::size_t>(a)] < phi[static_cast<std::size_t>(b)];
  });
  std::vector<double> gap(static_cast<std::size_t>(n));
  for (std::size_t k = 0; k < gap.size(); ++k) {
    const double a = phi[static_cast<std::size_t>(order[k])];
    const double b = k + 1 < gap.size() ? phi[static_cast<std::size_t>(order[k + 1])]
                                        : phi[static_cast<std::size_t>(order[0])] + kTwoPi;
    gap[k] = b - a;
  }
  // Start after the widest gap, so that no group straddles the start.
  const std::size_t widest =
      static_cast<std::size_t>(std::max_element(gap.begin(), gap.end()) - gap.begin());
  CircularOrder out;
  for (std::size_t k = 0; k < gap.size(); ++k) {
    const std::size_t r = (widest + 1 + k) % gap.size();
    out.index.push_back(order[r]);
    out.gap_to_next.push_back(gap[r]);
  }
  return out;
}

/// [first, last) ranges of CircularOrder positions whose consecutive gaps are < distance.
std::vector<std::pair<std::size_t, std::size_t>> circular_groups(const CircularOrder& order,
                                                                 double distance) {
  std::vector<std::pair<std::size_t, std::size_t>> groups;
  const std::size_t n = order.index.size();
  std::size_t first = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (k + 1 == n || !(order.gap_to_next[k] < distance)) {
      groups.emplace_back(first, k + 1);
      first = k + 1;
    }
  }
  return groups;
}

}  // namespace

Index circle_snap(Matrix& angles, const std::vector<double>& weights, double distance) {
  const Index n = angles.rows();
  if (n < 2 || !(distance > 0.0)) return 0;
  const CircularOrder order = circular_order(angles);
  Index moved = 0;
  for (const auto& [first, last] : circular_groups(order, distance)) {
    if (last - first < 2) continue;
    bool equal = true;
    for (std::size_t k = first + 1; k < last; ++k)
      equal = equal && angles(order.index[k], 0) == angles(order.index[first], 0);
    if (equal) continue;
    // Offsets from the group's first token accumulate its gaps, so the mean is taken on one
    // branch even when the group crosses θ = 0.
    double offset = 0.0, sum_w = 0.0, sum_wo = 0.0, sum_o = 0.0;
    for (std::size_t k = first; k < last; ++k) {
      const double wk = weights[static_cast<std::size_t>(order.index[k])];
      sum_w += wk;
      sum_wo += wk * offset;
      sum_o += offset;
      offset += order.gap_to_next[k];
    }
    const double mean_offset =
        sum_w > 0.0 ? sum_wo / sum_w : sum_o / static_cast<double>(last - first);
    // On the first member's branch, so that an unwrapped trajectory does not jump by 2π.
    const double mean = angles(order.index[first], 0) + mean_offset;
    for (std::size_t k = first; k < last; ++k) angles(order.index[k], 0) = mean;
    ++moved;
  }
  return moved;
}

std::vector<Index> circle_cluster_sizes(const Matrix& angles, double distance) {
  std::vector<Index> sizes;
  if (angles.rows() == 0) return sizes;
  for (const auto& [first, last] : circular_groups(circular_order(angles), distance))
    sizes.push_back(static_cast<Index>(last - first));
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  return sizes;
}

double circle_normalized_energy(const Matrix& angles, const std::vector<double>& weights,
                                double beta) {
  const Index n = angles.rows();
  const std::vector<double> w = uniform_weights_if_empty(weights, n);
  double e = 0.0;
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j)
      e += w[static_cast<std::size_t>(i)] * w[static_cast<std::size_t>(j)] *
           std::exp(beta * (std::cos(angles(i, 0) - angles(j, 0)) - 1.0));
  return e;
}

// ---------------------------------------------------------------------------------------------
// PDE

Index circle_min_cells(double beta) {
  return std::max<Index>(16,
                         static_cast<Index>(std::ceil(8.0 * std::numbers::pi * std::sqrt(beta))));
}

void validate_circle_cells(double beta, Index cells) {
  const Index needed = circle_min_cells(beta);
  if (cells >= needed) return;
  std::string message = "a grid of " + std::to_string(cells) +
                        " cells is too coarse for beta = " + format_number(beta);
  if (beta > 0.0)
    message += ": the kernel exp(beta cos) has width 1/sqrt(beta) = " +
               format_number(1.0 / std::sqrt(beta)) + " rad and needs 4 cells across it";
  message += "; use cells >= " + std::to_string(needed);
  throw InputError("grid.cells", message);
}

struct CirclePde::Fft {
  double* real = nullptr;
  fftw_complex* spec = nullptr;
  fftw_plan forward = nullptr;
  fftw_plan backward = nullptr;
  Index n = 0;
  explicit Fft(Index cells) : n(cells) {
    real = fftw_alloc_real(static_cast<std::size_t>(cells));
    spec = fftw_alloc_complex(static_cast<std::size_t>(cells / 2 + 1));
    // FFTW_ESTIMATE: a deterministic plan (MEASURE would time candidates and could differ per run).
    forward = fftw_plan_dft_r2c_1d(static_cast<int>(cells), real, spec, FFTW_ESTIMATE);
    backward = fftw_plan_dft_c2r_1d(static_cast<int>(cells), spec, real, FFTW_ESTIMATE);
  }
  ~Fft() {
    fftw_destroy_plan(forward);
    fftw_destroy_plan(backward);
    fftw_free(real);
    fftw_free(spec);
  }
  Fft(const Fft&) = delete;
  Fft& operator=(const Fft&) = delete;
  /// The DFT of samples f(m), m = 0..n−1, divided by n (so that the inverse is the convolution).
  template <typename F>
  std::vector<std::complex<double>> transform(const F& f) {
    for (Index m = 0; m < n; ++m) real[m] = f(m);
    fftw_execute(forward);
    std::vector<std::complex<double>> out(static_cast<std::size_t>(n / 2 + 1));
    for (std::size_t k = 0; k < out.size(); ++k)
      out[k] = std::complex<double>(spec[k][0], spec[k][1]) / static_cast<double>(n);
    return out;
  }
};

CirclePde::CirclePde(KernelKind kernel, double beta, Index cells)
    : kernel_(kernel), beta_(beta), cells_(cells), width_(kTwoPi / static_cast<double>(cells)) {
  validate_circle_model(kernel, beta);
  validate_circle_cells(beta, cells);
  fft_ = std::make_unique<Fft>(cells);
  // The fastest linear growth rate Λ = max_m λ_m (λ_m peaks near m ≈ √(2β), docs §4.4).
  const int m_max =
      static_cast<int>(std::min<Index>(cells / 2, 64 + static_cast<Index>(8.0 * std::sqrt(beta))));
  max_rate_ = circle_growth_rate(kernel, beta, circle_most_unstable_mode(kernel, beta, m_max));
  const double h = width_;
  const double b = beta_;
  // Kernels scaled by e^{−β} (USA multiplies back): offsets (m + ½)Δθ to faces, mΔθ to centres.
  sine_face_ = fft_->transform([&](Index m) {
    const double psi = (static_cast<double>(m) + 0.5) * h;
    return std::exp(b * (std::cos(psi) - 1.0)) * std::sin(psi) * h;
  });
  exp_face_ = fft_->transform([&](Index m) {
    const double psi = (static_cast<double>(m) + 0.5) * h;
    return std::exp(b * (std::cos(psi) - 1.0)) * h;
  });
  sine_centre_ = fft_->transform([&](Index m) {
    const double psi = static_cast<double>(m) * h;
    return std::exp(b * (std::cos(psi) - 1.0)) * std::sin(psi) * h;
  });
  exp_centre_ = fft_->transform([&](Index m) {
    const double psi = static_cast<double>(m) * h;
    return std::exp(b * (std::cos(psi) - 1.0)) * h;
  });
  energy_centre_ = fft_->transform([&](Index m) {
    const double c = std::cos(static_cast<double>(m) * h);
    return (b > 0.0 ? std::expm1(b * c) / (2.0 * b) : 0.5 * c) * h;
  });
  const auto n = static_cast<std::size_t>(cells);
  work_.resize(n);
  work2_.resize(n);
  slope_.resize(n);
  flux_.resize(n);
}

CirclePde::~CirclePde() = default;

void CirclePde::convolve(const double* rho, const std::vector<std::complex<double>>& kernel_hat,
                         double* out) {
  std::copy(rho, rho + cells_, fft_->real);
  fftw_execute(fft_->forward);
  for (std::size_t k = 0; k < kernel_hat.size(); ++k) {
    const std::complex<double> z =
        std::complex<double>(fft_->spec[k][0], fft_->spec[k][1]) * kernel_hat[k];
    fft_->spec[k][0] = z.real();
    fft_->spec[k][1] = z.imag();
  }
  fftw_execute(fft_->backward);
  std::copy(fft_->real, fft_->real + cells_, out);
}

namespace {

/// u = −(k∗ρ) e^β (USA) or −(k∗ρ)/(e^{βcos}∗ρ) (SA). The SA ratio is clamped to [−1, 1], its exact
/// range (|k| ≤ e^{β cos}), which only removes FFT rounding where the denominator underflows.
void finish_velocity(KernelKind kernel, double beta, const double* num, const double* den,
                     double* u, Index n) {
  if (kernel == KernelKind::usa) {
    const double scale = std::exp(beta);
    for (Index k = 0; k < n; ++k) u[k] = -scale * num[k];
  } else {
    for (Index k = 0; k < n; ++k)
      u[k] = den[k] > 0.0 ? std::clamp(-num[k] / den[k], -1.0, 1.0) : 0.0;
  }
}

}  // namespace

void CirclePde::face_velocity(const double* rho, double* u) {
  convolve(rho, sine_face_, work_.data());
  if (kernel_ == KernelKind::softmax) convolve(rho, exp_face_, work2_.data());
  finish_velocity(kernel_, beta_, work_.data(), work2_.data(), u, cells_);
}

void CirclePde::centre_velocity(const double* rho, double* u) {
  convolve(rho, sine_centre_, work_.data());
  if (kernel_ == KernelKind::softmax) convolve(rho, exp_centre_, work2_.data());
  finish_velocity(kernel_, beta_, work_.data(), work2_.data(), u, cells_);
}

void CirclePde::velocity(double, const Matrix& x, Matrix& v) {
  ++evaluations_;
  const Index n = cells_;
  const double* rho = x.data();
  std::vector<double> u(static_cast<std::size_t>(n));
  face_velocity(rho, u.data());
  for (Index k = 0; k < n; ++k) {
    const double back = rho[k] - rho[(k + n - 1) % n];
    const double forward = rho[(k + 1) % n] - rho[k];
    slope_[static_cast<std::size_t>(k)] = mc_slope(back, forward);
  }
  for (Index k = 0; k < n; ++k) {
    const Index r = (k + 1) % n;
    const double left = rho[k] + 0.5 * slope_[static_cast<std::size_t>(k)];
    const double right = rho[r] - 0.5 * slope_[static_cast<std::size_t>(r)];
    const double uk = u[static_cast<std::size_t>(k)];
    flux_[static_cast<std::size_t>(k)] = std::max(uk, 0.0) * left + std::min(uk, 0.0) * right;
  }
  v.resize(n, 1);
  for (Index k = 0; k < n; ++k)
    v(k, 0) =
        -(flux_[static_cast<std::size_t>(k)] - flux_[static_cast<std::size_t>((k + n - 1) % n)]) /
        width_;
}

double CirclePde::stable_step(const Matrix& rho, double cfl) {
  std::vector<double> u(static_cast<std::size_t>(cells_));
  face_velocity(rho.data(), u.data());
  double umax = 0.0;
  for (double x : u) umax = std::max(umax, std::fabs(x));
  return umax > 0.0 ? cfl * width_ / umax : std::numeric_limits<double>::infinity();
}

double CirclePde::mass(const Matrix& rho) const {
  return width_ * rho.sum();
}

double CirclePde::energy(const Matrix& rho) {
  convolve(rho.data(), energy_centre_, work_.data());
  double e = 0.0;
  for (Index k = 0; k < cells_; ++k) e += rho(k, 0) * work_[static_cast<std::size_t>(k)];
  return e * width_;
}

double CirclePde::energy_rate(const Matrix& rho) {
  std::vector<double> u(static_cast<std::size_t>(cells_));
  centre_velocity(rho.data(), u.data());
  double s = 0.0;
  for (Index k = 0; k < cells_; ++k)
    s += rho(k, 0) * u[static_cast<std::size_t>(k)] * u[static_cast<std::size_t>(k)];
  return s * width_;
}

IntegrateStats integrate_ssprk3(CirclePde& pde, Matrix& rho, const std::vector<double>& times,
                                double cfl, const Observer& observe, std::uint64_t max_steps) {
  if (!(cfl > 0.0 && cfl <= 0.5))
    throw InputError("grid.cfl", "must lie in (0, 0.5] (positivity needs dt max|u| <= dx/2), got " +
                                     format_number(cfl));
  IntegrateStats stats;
  if (times.empty()) return stats;
  observe(0, times.front(), rho);
  Matrix k1, u1, u2;
  double t = times.front();
  for (std::size_t out = 1; out < times.size(); ++out) {
    while (t < times[out]) {
      // CFL, and Λ dt ≤ 0.05 with Λ the fastest linear growth rate: near the uniform state the
      // velocities are small and the CFL bound alone would not resolve the exponential growth.
      double dt =
          std::min({pde.stable_step(rho, cfl), 0.05 / pde.max_growth_rate(), times[out] - t});
      // Guarantee the CFL bound at every stage: retry with half the step if a stage violates it.
      for (;;) {
        pde.velocity(t, rho, k1);
        u1 = rho + dt * k1;
        const double s1 = pde.stable_step(u1, 0.5);
        if (dt > s1) {
          dt *= 0.5;
          ++stats.rejected;
          continue;
        }
        pde.velocity(t + dt, u1, k1);
        u2 = 0.75 * rho + 0.25 * (u1 + dt * k1);
        const double s2 = pde.stable_step(u2, 0.5);
        if (dt > s2) {
          dt *= 0.5;
          ++stats.rejected;
          continue;
        }
        pde.velocity(t + 0.5 * dt, u2, k1);
        rho = (1.0 / 3.0) * rho + (2.0 / 3.0) * (u2 + dt * k1);
        break;
      }
      t = (times[out] - t <= dt) ? times[out] : t + dt;
      if (!rho.allFinite())
        throw NumericalError("circle: the density became non-finite at t = " + format_number(t));
      if (++stats.steps > max_steps)
        throw NumericalError("circle: more than integrate.max_steps steps");
    }
    observe(out, times[out], rho);
  }
  stats.evaluations = pde.evaluations();
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Linear theory

double circle_growth_rate(KernelKind kernel, double beta, int m) {
  const double mm = static_cast<double>(m);
  const double rate =
      0.5 * mm * (std::cyl_bessel_i(mm - 1.0, beta) - std::cyl_bessel_i(mm + 1.0, beta));
  return kernel == KernelKind::usa ? rate : rate / std::cyl_bessel_i(0.0, beta);
}

int circle_most_unstable_mode(KernelKind kernel, double beta, int m_max) {
  int best = 1;
  double best_rate = circle_growth_rate(kernel, beta, 1);
  for (int m = 2; m <= m_max; ++m) {
    const double r = circle_growth_rate(kernel, beta, m);
    if (r > best_rate) {
      best_rate = r;
      best = m;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Densities, sampling, distances

double CircleDensity::operator()(double theta) const {
  if (kind == Kind::perturbed_uniform) {
    double s = 1.0;
    for (std::size_t k = 0; k < modes.size(); ++k)
      s += amplitudes[k] *
           std::cos(static_cast<double>(modes[k]) * theta + (k < phases.size() ? phases[k] : 0.0));
    return s / kTwoPi;
  }
  double total = 0.0, s = 0.0;
  for (std::size_t k = 0; k < centers.size(); ++k) {
    const double w = k < weights.size() ? weights[k] : 1.0;
    total += w;
    const double kappa = kappas[k];
    // e^{κ(cos − 1)} / (2π I_0(κ) e^{−κ}): finite for κ ≤ 500.
    s += w * std::exp(kappa * (std::cos(theta - centers[k]) - 1.0)) /
         (kTwoPi * std::cyl_bessel_i(0.0, kappa) * std::exp(-kappa));
  }
  return s / total;
}

void validate_circle_density(const CircleDensity& d) {
  if (d.kind == CircleDensity::Kind::perturbed_uniform) {
    if (d.amplitudes.size() != d.modes.size())
      throw InputError("init.amplitudes", "must have one entry per mode (" +
                                              std::to_string(d.modes.size()) + "), got " +
                                              std::to_string(d.amplitudes.size()));
    if (!d.phases.empty() && d.phases.size() != d.modes.size())
      throw InputError("init.phases", "must have one entry per mode (" +
                                          std::to_string(d.modes.size()) + "), got " +
                                          std::to_string(d.phases.size()));
    double total = 0.0;
    for (std::size_t k = 0; k < d.modes.size(); ++k) {
      if (d.modes[k] < 1)
        throw InputError("init.modes", "must be integers >= 1, got " + std::to_string(d.modes[k]));
      total += std::fabs(d.amplitudes[k]);
    }
    if (!(total < 1.0))
      throw InputError("init.amplitudes",
                       "the sum of |amplitudes| must be < 1 so that the density stays positive, "
                       "got " +
                           format_number(total));
    return;
  }
  if (d.centers.empty())
    throw InputError("init.centers", "a von Mises mixture needs at least one center");
  if (d.kappas.size() != d.centers.size())
    throw InputError("init.kappas", "must have one entry per center (" +
                                        std::to_string(d.centers.size()) + "), got " +
                                        std::to_string(d.kappas.size()));
  if (!d.weights.empty() && d.weights.size() != d.centers.size())
    throw InputError("init.weights", "must have one entry per center (" +
                                         std::to_string(d.centers.size()) + "), got " +
                                         std::to_string(d.weights.size()));
  for (double k : d.kappas)
    if (!(k >= 0.0 && k <= 500.0))
      throw InputError("init.kappas", "must lie in [0, 500], got " + format_number(k));
  double total = 0.0;
  for (double w : d.weights) {
    if (!(w >= 0.0)) throw InputError("init.weights", "must be >= 0, got " + format_number(w));
    total += w;
  }
  if (!d.weights.empty() && !(total > 0.0))
    throw InputError("init.weights", "must have a positive sum");
}

Matrix circle_cell_averages(const CircleDensity& density, Index cells) {
  const double h = kTwoPi / static_cast<double>(cells);
  Matrix rho(cells, 1);
  for (Index k = 0; k < cells; ++k) {
    const double a = static_cast<double>(k) * h;
    rho(k, 0) = gauss_legendre(density, a, a + h) / h;
  }
  return rho;
}

Matrix circle_sample(const CircleDensity& density, Index n, std::uint64_t seed, bool quantile) {
  constexpr Index kIntervals = 4096;
  const double h = kTwoPi / static_cast<double>(kIntervals);
  std::vector<double> cum(static_cast<std::size_t>(kIntervals) + 1, 0.0);
  for (Index k = 0; k < kIntervals; ++k) {
    const double a = static_cast<double>(k) * h;
    cum[static_cast<std::size_t>(k) + 1] =
        cum[static_cast<std::size_t>(k)] + gauss_legendre(density, a, a + h);
  }
  const double total = cum.back();
  Rng rng(seed);
  Matrix theta(n, 1);
  for (Index i = 0; i < n; ++i) {
    const double u =
        (quantile ? (static_cast<double>(i) + 0.5) / static_cast<double>(n) : rng.uniform()) *
        total;
    const auto it = std::upper_bound(cum.begin(), cum.end(), u);
    const auto j =
        static_cast<Index>(std::clamp<std::ptrdiff_t>(it - cum.begin() - 1, 0, kIntervals - 1));
    double lo = static_cast<double>(j) * h, hi = lo + h;
    const double base = cum[static_cast<std::size_t>(j)];
    const double a = lo;
    for (int iter = 0; iter < 60 && hi - lo > 1e-15; ++iter) {
      const double mid = 0.5 * (lo + hi);
      if (base + gauss_legendre(density, a, mid) < u) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    theta(i, 0) = 0.5 * (lo + hi);
  }
  return theta;
}

double circle_w1(const Matrix& rho, const Matrix& angles, const std::vector<double>& weights_in) {
  const Index cells = rho.rows(), n = angles.rows();
  const std::vector<double> weights = uniform_weights_if_empty(weights_in, n);
  const double h = kTwoPi / static_cast<double>(cells);
  std::vector<std::pair<double, double>> particles(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i)
    particles[static_cast<std::size_t>(i)] = {wrap_angle(angles(i, 0)),
                                              weights[static_cast<std::size_t>(i)]};
  std::sort(particles.begin(), particles.end());
  struct Piece {
    double length, h0, h1;
  };
  std::vector<Piece> pieces;
  pieces.reserve(static_cast<std::size_t>(cells + n));
  double pos = 0.0, cdf = 0.0, emp = 0.0;
  std::size_t p = 0;
  Index k = 0;
  while (k < cells) {
    const double face = k + 1 == cells ? kTwoPi : static_cast<double>(k + 1) * h;
    if (p < particles.size() && particles[p].first <= pos) {
      emp += particles[p].second;
      ++p;
      continue;
    }
    const double next = p < particles.size() ? std::min(face, particles[p].first) : face;
    const double length = next - pos;
    const double cdf_end = cdf + rho(k, 0) * length;
    if (length > 0.0) pieces.push_back({length, cdf - emp, cdf_end - emp});
    cdf = cdf_end;
    pos = next;
    if (next == face) ++k;
  }
  // c: the median of F − G over [0, 2π) (Lebesgue measure), the minimiser of ∫|F − G − c|. F − G is
  // linear on each piece, so |{F − G < c}| is an explicit non-decreasing function of c: bisection.
  double total = 0.0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Piece& piece : pieces) {
    total += piece.length;
    lo = std::min({lo, piece.h0, piece.h1});
    hi = std::max({hi, piece.h0, piece.h1});
  }
  auto below = [&](double c) {
    double m = 0.0;
    for (const Piece& piece : pieces) {
      const double a = std::min(piece.h0, piece.h1), b = std::max(piece.h0, piece.h1);
      if (b <= c) {
        m += piece.length;
      } else if (a < c) {
        m += piece.length * (c - a) / (b - a);
      }
    }
    return m;
  };
  for (int iter = 0; iter < 200 && hi - lo > 0.0; ++iter) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (below(mid) < 0.5 * total) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const double c = 0.5 * (lo + hi);
  double w1 = 0.0;
  for (const Piece& piece : pieces) {
    const double a = piece.h0 - c, b = piece.h1 - c;
    if (a * b >= 0.0) {
      w1 += piece.length * 0.5 * std::fabs(a + b);
    } else {
      w1 += piece.length * (a * a + b * b) / (2.0 * (std::fabs(a) + std::fabs(b)));
    }
  }
  return w1;
}

double circle_order_parameter(const Matrix& rho) {
  const Index cells = rho.rows();
  const double h = kTwoPi / static_cast<double>(cells);
  std::complex<double> z = 0.0;
  for (Index k = 0; k < cells; ++k)
    z += rho(k, 0) * std::polar(1.0, (static_cast<double>(k) + 0.5) * h);
  return std::abs(z) * 2.0 * std::sin(0.5 * h);  // ∫_cell e^{iθ} dθ = 2 sin(Δθ/2) e^{iθ_k}
}

double circle_order_parameter_particles(const Matrix& angles,
                                        const std::vector<double>& weights_in) {
  const std::vector<double> weights = uniform_weights_if_empty(weights_in, angles.rows());
  std::complex<double> z = 0.0;
  for (Index i = 0; i < angles.rows(); ++i)
    z += weights[static_cast<std::size_t>(i)] * std::polar(1.0, angles(i, 0));
  return std::abs(z);
}

}  // namespace attnflow::reduce
