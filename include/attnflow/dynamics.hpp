#pragma once
// The right-hand side integrators see: the attention field with its geometry applied.
#include <cstdint>

#include "attnflow/attention_field.hpp"
#include "attnflow/geometry.hpp"

namespace attnflow {

/// ẋ = F(t, x): A(x) in R^d, P⊥_x A(x) on the sphere ([C] Transformer PDE, [R] SA/USA).
class Dynamics {
 public:
  explicit Dynamics(AttentionField field) : field_(std::move(field)) {}

  Geometry geometry() const { return field_.model().geometry; }
  const AttentionField& field() const { return field_; }

  /// v = F(t, x): the tangent velocity.
  void velocity(double t, const Matrix& x, Matrix& v);
  /// a = A(x): the raw attention output (the residual branch of a layer).
  void attention(double t, const Matrix& x, Matrix& a);

  /// Number of attention evaluations so far (the unit of cost).
  std::uint64_t evaluations() const { return evaluations_; }

 private:
  AttentionField field_;
  std::uint64_t evaluations_ = 0;
};

}  // namespace attnflow
