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

}  // namespace attnflow
