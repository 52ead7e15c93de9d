#include "attnflow/dynamics.hpp"

#include <cmath>

namespace attnflow {

Dynamics::Dynamics(AttentionField field, std::vector<double> radii)
    : field_(std::move(field)), radii_(std::move(radii)), noise_rng_(field_.model().noise_seed) {}

bool Dynamics::post_ln_at(double t) const {
  const Normalization n = normalization();
  return n == Normalization::post_ln || (n == Normalization::mix_ln && t < field_.model().mix_tau);
}

void Dynamics::attention_on_directions(const Matrix& x, Matrix& a) {
  const Index n = x.rows();
  theta_ = x;
  r_.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    r_[static_cast<std::size_t>(i)] = x.row(i).norm();
    theta_.row(i) /= r_[static_cast<std::size_t>(i)];
  }
  field_.evaluate(theta_, a);
  ++evaluations_;
}

void Dynamics::velocity(double t_stage, const Matrix& x, Matrix& v) {
  // A stage may sit exactly on Mix-LN's τ; the interval being integrated says which side it is on.
  const double t = std::isnan(interval_middle_) ? t_stage : interval_middle_;
  field_.set_time(t_stage);
  const Normalization scheme = normalization();
  if (scheme == Normalization::none) {
    field_.evaluate(x, v);
    ++evaluations_;
    return;
  }
  if (scheme == Normalization::post_ln && geometry() == Geometry::sphere) {
    field_.evaluate(x, v);  // x is on the sphere: θ = x, r = 1
    ++evaluations_;
    project_tangent(x, v);
    return;
  }
  attention_on_directions(x, v);  // v = A(θ)
  const Index n = x.rows();
  const double alpha = field_.model().ngpt_alpha;
  const bool post = post_ln_at(t);
  for (Index i = 0; i < n; ++i) {
    const double r = r_[static_cast<std::size_t>(i)];
    auto vi = v.row(i);
    const auto th = theta_.row(i);
    if (post) {
      vi = r * (vi - th.dot(vi) * th);
    } else if (scheme == Normalization::pre_ln || scheme == Normalization::mix_ln) {
      // ẋ = A(θ): nothing to do.
    } else if (scheme == Normalization::peri_ln) {
      vi /= vi.norm();
    } else if (scheme == Normalization::ngpt) {
      const double norm = vi.norm();
      vi = (r * alpha / norm) * (vi - th.dot(vi) * th);
    } else if (scheme == Normalization::sqrt_scaling) {
      vi = (r / std::sqrt(t_stage + 1.0)) * (vi - th.dot(vi) * th);
    }
  }
}

void Dynamics::attention(double t, const Matrix& x, Matrix& a) {
  field_.set_time(t);
  field_.evaluate(x, a);
  ++evaluations_;
}

void Dynamics::euler_step(double t, Matrix& x, double h, Matrix& work) {
  const Normalization scheme = normalization();
  const Index n = x.rows();
  const Index d = x.cols();
  // Brownian increments, drawn serially in token order (reproducible for any thread count) and, on
  // the sphere, projected on the tangent space at the current point.
  const double temperature = field_.model().noise;
  Matrix xi;
  if (temperature > 0.0) {
    const double sigma = std::sqrt(2.0 * temperature * h);
    xi.resize(n, d);
    for (Index i = 0; i < n; ++i)
      for (Index c = 0; c < d; ++c) xi(i, c) = sigma * noise_rng_.normal();
    if (geometry() == Geometry::sphere) {
      Matrix directions = x;
      normalize_rows(directions);
      project_tangent(directions, xi);
    }
  }
  if (scheme == Normalization::none ||
      (scheme == Normalization::post_ln && geometry() == Geometry::sphere)) {
    attention(t, x, work);  // unprojected: the residual branch of the layer
    x += h * work;
  } else {
    field_.set_time(t);
    attention_on_directions(x, work);  // work = A(θ)
    const double alpha = field_.model().ngpt_alpha;
    const bool post = post_ln_at(t);
    for (Index i = 0; i < n; ++i) {
      const double r = r_[static_cast<std::size_t>(i)];
      const auto th = theta_.row(i);
      const auto a = work.row(i);
      if (post) {  // x ← r·LN(θ + h A(θ))
        x.row(i) = th + h * a;
        x.row(i) *= r / x.row(i).norm();
      } else if (scheme == Normalization::pre_ln ||
                 scheme == Normalization::mix_ln) {  // x ← x + h A(LN x)
        x.row(i) += h * a;
      } else if (scheme == Normalization::peri_ln) {  // x ← x + h LN(A(LN x))
        x.row(i) += (h / a.norm()) * a;
      } else if (scheme == Normalization::ngpt) {  // θ ← LN(θ + α h (LN(A) − θ)), radius kept
        x.row(i) = th + (alpha * h) * (a / a.norm() - th);
        x.row(i) *= r / x.row(i).norm();
      } else if (scheme == Normalization::sqrt_scaling) {  // θ ← LN(θ + h A/√(t+1))
        x.row(i) = th + (h / std::sqrt(t + 1.0)) * a;
        x.row(i) *= r / x.row(i).norm();
      }
    }
  }
  if (temperature > 0.0) x += xi;
  retract(x);
}

void Dynamics::retract(Matrix& x) {
  const Normalization scheme = normalization();
  if (scheme == Normalization::post_ln && geometry() == Geometry::sphere) {
    normalize_rows(x);
  } else if (scheme == Normalization::ngpt || scheme == Normalization::sqrt_scaling) {
    for (Index i = 0; i < x.rows(); ++i) {
      const double r = radii_.empty() ? 1.0 : radii_[static_cast<std::size_t>(i)];
      x.row(i) *= r / x.row(i).norm();
    }
  }
}

}  // namespace attnflow
