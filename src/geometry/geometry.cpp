#include "attnflow/geometry.hpp"

#include <cmath>
#include <string>

#include "attnflow/attention_tables.hpp"
#include "attnflow/error.hpp"

namespace attnflow {

void project_tangent(const Matrix& x, Matrix& v) {
  const Index n = x.rows();
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index i = 0; i < n; ++i) {
    const double c = x.row(i).dot(v.row(i));
    v.row(i) -= c * x.row(i);
  }
}

void normalize_rows(Matrix& x) {
  const Index n = x.rows();
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  // One division per row and d multiplications (d divisions cost ~4 % of a small system's step
  // at d = 128); the row's norm then differs from 1 by at most a few ulps either way.
  for (Index i = 0; i < n; ++i) x.row(i) *= 1.0 / x.row(i).norm();
}

void apply_geometry(Geometry geometry, const Matrix& x, Matrix& v) {
  if (geometry == Geometry::sphere) project_tangent(x, v);
}

std::string_view geometry_name(Geometry geometry) {
  return geometry == Geometry::sphere ? "sphere" : "euclidean";
}

Geometry geometry_from_name(std::string_view name, const std::string& key) {
  if (name == "sphere") return Geometry::sphere;
  if (name == "euclidean") return Geometry::euclidean;
  if (name == "circle") return Geometry::sphere;  // S¹: the sphere at d = 2 (checked by the config)
  throw InputError(
      key, "unknown geometry '" + std::string(name) + "'; allowed: euclidean, sphere, circle");
}

}  // namespace attnflow
