#include "attnflow/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "attnflow/rng.hpp"

namespace attnflow {

MatrixSchedule MatrixSchedule::constant(Matrix m) {
  MatrixSchedule s;
  s.kind_ = Kind::constant;
  s.shape_ = m;
  s.values_ = {std::move(m)};
  return s;
}

MatrixSchedule MatrixSchedule::per_layer(std::vector<Matrix> layers, double layer_time) {
  MatrixSchedule s;
  s.kind_ = layers.size() == 1 ? Kind::constant : Kind::per_layer;
  s.shape_ = layers.front();
  s.values_ = std::move(layers);
  s.step_ = layer_time;
  return s;
}

MatrixSchedule MatrixSchedule::sinusoid(Matrix base, Matrix amplitude, double omega, double phase) {
  const Matrix w = Matrix::Constant(base.rows(), base.cols(), omega);
  const Matrix p = Matrix::Constant(base.rows(), base.cols(), phase);
  return sinusoid(std::move(base), std::move(amplitude), w, p);
}

MatrixSchedule MatrixSchedule::sinusoid(Matrix base, Matrix amplitude, Matrix omega, Matrix phase) {
  MatrixSchedule s;
  s.kind_ = Kind::sinusoid;
  s.shape_ = base;
  s.values_ = {std::move(base), std::move(amplitude), std::move(omega), std::move(phase)};
  return s;
}

MatrixSchedule MatrixSchedule::relaxation(Matrix initial, double rate, Matrix base,
                                          Matrix amplitude, Matrix omega, Matrix phase) {
  MatrixSchedule s;
  s.kind_ = Kind::relaxation;
  s.shape_ = base;
  s.step_ = rate;
  s.values_ = {std::move(base), std::move(amplitude), std::move(omega), std::move(phase),
               std::move(initial)};
  return s;
}

Matrix MatrixSchedule::periodic(double t, bool target) const {
  const Matrix &base = values_[0], &amp = values_[1], &omega = values_[2], &phase = values_[3];
  const double r = step_;
  Matrix m = base;
  for (Index a = 0; a < m.rows(); ++a)
    for (Index b = 0; b < m.cols(); ++b) {
      const double w = omega(a, b), arg = w * t + phase(a, b);
      m(a, b) += target ? amp(a, b) * std::sin(arg)
                        : amp(a, b) * r / (r * r + w * w) * (r * std::sin(arg) - w * std::cos(arg));
    }
  return m;
}

MatrixSchedule MatrixSchedule::ornstein_uhlenbeck(Matrix initial, Matrix mean, double theta,
                                                  double sigma, double dt, double t_end,
                                                  std::uint64_t seed, bool symmetric) {
  MatrixSchedule s;
  s.kind_ = Kind::grid;
  s.shape_ = initial;
  s.step_ = dt;
  const auto steps = static_cast<std::size_t>(std::ceil(t_end / dt - 1e-9)) + 1;
  const double decay = std::exp(-theta * dt);
  const double spread = sigma * std::sqrt(-std::expm1(-2.0 * theta * dt) / (2.0 * theta));
  Rng rng(seed);
  s.values_.reserve(steps + 1);
  s.values_.push_back(std::move(initial));
  Matrix z(s.shape_.rows(), s.shape_.cols());
  for (std::size_t k = 0; k < steps; ++k) {
    for (Index r = 0; r < z.rows(); ++r)
      for (Index c = 0; c < z.cols(); ++c) z(r, c) = rng.normal();
    if (symmetric) z = ((z + z.transpose()) / std::sqrt(2.0)).eval();
    s.values_.push_back(mean + decay * (s.values_.back() - mean) + spread * z);
  }
  return s;
}

Matrix MatrixSchedule::at(double t) const {
  switch (kind_) {
    case Kind::constant:
      return values_.front();
    case Kind::per_layer: {
      const auto layer = static_cast<std::size_t>(std::max(0.0, std::floor(t / step_ + 1e-12)));
      return values_[std::min(layer, values_.size() - 1)];
    }
    case Kind::sinusoid:
      return periodic(t, true);
    case Kind::relaxation:
      return periodic(t, false) + std::exp(-step_ * t) * (values_[4] - periodic(0.0, false));
    case Kind::grid: {
      const double u = std::max(0.0, t / step_);
      const auto k = std::min(static_cast<std::size_t>(u), values_.size() - 2);
      const double f = std::min(1.0, u - static_cast<double>(k));
      return (1.0 - f) * values_[k] + f * values_[k + 1];
    }
  }
  return values_.front();
}

Matrix MatrixSchedule::derivative(double t, double piece) const {
  switch (kind_) {
    case Kind::constant:
    case Kind::per_layer:
      return Matrix::Zero(shape_.rows(), shape_.cols());
    case Kind::sinusoid: {
      const Matrix &amp = values_[1], &omega = values_[2], &phase = values_[3];
      Matrix m(shape_.rows(), shape_.cols());
      for (Index a = 0; a < m.rows(); ++a)
        for (Index b = 0; b < m.cols(); ++b)
          m(a, b) = amp(a, b) * omega(a, b) * std::cos(omega(a, b) * t + phase(a, b));
      return m;
    }
    case Kind::relaxation:  // the ODE itself: dM/dt = r (F(t) − M(t))
      return step_ * (periodic(t, true) - at(t));
    case Kind::grid: {
      const double u = std::max(0.0, t / step_);
      const double k = std::round(u);
      double cell = std::floor(u);
      if (std::fabs(u - k) <= 1e-9 * std::max(1.0, u)) cell = piece < t ? k - 1.0 : k;
      const auto last = static_cast<double>(values_.size() - 2);
      const auto c = static_cast<std::size_t>(std::clamp(cell, 0.0, last));
      return (values_[c + 1] - values_[c]) / step_;
    }
  }
  return Matrix::Zero(shape_.rows(), shape_.cols());
}

std::vector<double> MatrixSchedule::kinks(double t_end) const {
  std::vector<double> out;
  if (kind_ != Kind::grid) return out;
  for (std::size_t k = 1; k < values_.size(); ++k) {
    const double t = static_cast<double>(k) * step_;
    if (t < t_end * (1.0 - 1e-12)) out.push_back(t);
  }
  return out;
}

std::vector<double> MatrixSchedule::jumps(double t_end) const {
  std::vector<double> out;
  if (kind_ != Kind::per_layer) return out;
  for (std::size_t k = 1; k < values_.size(); ++k) {
    const double t = static_cast<double>(k) * step_;
    if (t < t_end) out.push_back(t);
  }
  return out;
}

bool ModelSchedule::is_constant() const {
  if (!beta.is_constant()) return false;
  for (const HeadSchedule& h : heads)
    if (!h.Q.is_constant() || !h.K.is_constant() || !h.V.is_constant() || !h.W.is_constant())
      return false;
  return true;
}

std::vector<double> ModelSchedule::jumps(double t_end) const {
  std::vector<double> out = beta.jumps(t_end);
  for (const HeadSchedule& h : heads)
    for (const MatrixSchedule* m : {&h.Q, &h.K, &h.V, &h.W}) {
      const auto j = m->jumps(t_end);
      out.insert(out.end(), j.begin(), j.end());
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<double> ModelSchedule::breakpoints(double t_end) const {
  std::vector<double> out = jumps(t_end);
  auto add = [&](const MatrixSchedule& m) {
    const auto k = m.kinks(t_end);
    out.insert(out.end(), k.begin(), k.end());
  };
  add(beta);
  for (const HeadSchedule& h : heads)
    for (const MatrixSchedule* m : {&h.Q, &h.K, &h.V, &h.W}) add(*m);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace attnflow
