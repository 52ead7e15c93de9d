#include "attnflow/dynamics.hpp"

namespace attnflow {

void Dynamics::velocity(double, const Matrix& x, Matrix& v) {
  field_.evaluate(x, v);
  ++evaluations_;
  apply_geometry(geometry(), x, v);
}

void Dynamics::attention(double, const Matrix& x, Matrix& a) {
  field_.evaluate(x, a);
  ++evaluations_;
}

void Dynamics::euler_step(double t, Matrix& x, double h, Matrix& work) {
  attention(t, x, work);  // unprojected: the residual branch of the layer
  x += h * work;
  retract(x);
}

void Dynamics::retract(Matrix& x) {
  if (geometry() == Geometry::sphere) normalize_rows(x);
}

}  // namespace attnflow
