#include "attnflow/arc_length_flow.hpp"

#include <cmath>
#include <utility>

#include "attnflow/error.hpp"

namespace attnflow {

ArcLengthFlow::ArcLengthFlow(OdeSystem& flow, std::vector<double> weights)
    : flow_(flow), weights_(std::move(weights)) {}

void ArcLengthFlow::velocity(double, const Matrix& x, Matrix& v) {
  flow_.velocity(0.0, x, v);
  last_speed_ = weighted_norm(v, weights_);
  if (last_speed_ > 0.0)
    v /= last_speed_;
  else
    v.setZero();
}

double weighted_norm(const Matrix& v, const std::vector<double>& weights) {
  if (static_cast<Index>(weights.size()) != v.rows())
    throw std::invalid_argument("weighted_norm: one weight per row is required");
  const double scale = v.size() == 0 ? 0.0 : v.cwiseAbs().maxCoeff();
  if (!(scale > 0.0) || !std::isfinite(scale)) return scale;
  double sum = 0.0;
  for (Index i = 0; i < v.rows(); ++i) {
    double row = 0.0;
    for (Index c = 0; c < v.cols(); ++c) {
      const double u = v(i, c) / scale;
      row += u * u;
    }
    sum += weights[static_cast<std::size_t>(i)] * row;
  }
  return scale * std::sqrt(sum);
}

}  // namespace attnflow
