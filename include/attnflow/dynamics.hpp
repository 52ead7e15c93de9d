#pragma once
// The particle system: the attention field with its geometry applied.
#include <cstdint>

#include "attnflow/attention_field.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/ode_system.hpp"

namespace attnflow {

/// ẋ = F(t, x): A(x) in R^d, P⊥_x A(x) on the sphere ([C] Transformer PDE, [R] SA/USA).
class Dynamics : public OdeSystem {
 public:
  explicit Dynamics(AttentionField field) : field_(std::move(field)) {}

  Geometry geometry() const { return field_.model().geometry; }
  const AttentionField& field() const { return field_; }

  /// v = F(t, x): the tangent velocity.
  void velocity(double t, const Matrix& x, Matrix& v) override;
  /// a = A(x): the raw attention output (the residual branch of a layer).
  void attention(double t, const Matrix& x, Matrix& a);
  /// The discrete transformer layer: x ← x + h A(x), then x/|x| on the sphere (Post-LN). With
  /// h = 1 this is exactly one residual attention layer.
  void euler_step(double t, Matrix& x, double h, Matrix& work) override;
  /// Row normalisation on the sphere, nothing in R^d.
  void retract(Matrix& x) override;

  std::uint64_t evaluations() const override { return evaluations_; }

 private:
  AttentionField field_;
  std::uint64_t evaluations_ = 0;
};

}  // namespace attnflow
