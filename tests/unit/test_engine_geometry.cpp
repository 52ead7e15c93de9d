// Geometry: the tangent projection and the sphere dynamics ẋ_i = P⊥_{x_i} A(x)_i.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/kernel_registry.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

// P⊥_x v = v − ⟨x,v⟩x with |x| = 1: ⟨x, P⊥v⟩ = 0, P⊥ is idempotent, and v − P⊥v ∥ x. Against a
// long-double evaluation of the formula: each entry is v_a − c x_a with c a length-d dot product,
// so |error| ≤ γ_d |x||v| |x_a| + u|c x_a| + u|v_a − c x_a| + (reference's final rounding) u|.|
// ≤ (d + 4) u |v| for unit x.
TEST(Geometry, ProjectTangentIsTheOrthogonalProjection) {
  for (Index d : {2, 3, 16}) {
    SCOPED_TRACE(d);
    Rng rng(static_cast<std::uint64_t>(d));
    const Matrix x = sphere_points(50, d, rng);
    const Matrix v0 = gaussian_matrix(50, d, rng, 3.0);
    Matrix v = v0;
    project_tangent(x, v);
    const Matrix expected = dense::project_tangent(x, v0);
    for (Index i = 0; i < x.rows(); ++i) {
      const double tol = static_cast<double>(d + 4) * kU * v0.row(i).norm();
      EXPECT_LE((v.row(i) - expected.row(i)).cwiseAbs().maxCoeff(), tol) << "row " << i;
      EXPECT_LE(std::fabs(x.row(i).dot(v.row(i))), 2.0 * tol) << "row " << i;
      // v0 − P⊥v0 = ⟨x, v0⟩ x.
      const Matrix normal = v0.row(i) - v.row(i);
      EXPECT_LE((normal - x.row(i).dot(v0.row(i)) * x.row(i)).cwiseAbs().maxCoeff(), 2.0 * tol);
    }
    // Idempotence: P⊥(P⊥v) − P⊥v = −⟨x, P⊥v⟩ x (≤ 2 tol, above) plus one more rounding (≤ tol).
    Matrix twice = v;
    project_tangent(x, twice);
    for (Index i = 0; i < x.rows(); ++i)
      EXPECT_LE((twice.row(i) - v.row(i)).cwiseAbs().maxCoeff(),
                3.0 * static_cast<double>(d + 4) * kU * v0.row(i).norm());
  }
}

// normalize_rows: |x_i| = 1 to a few ulps and the direction unchanged.
TEST(Geometry, NormalizeRowsRetractsOntoTheSphere) {
  Rng rng(9);
  const Matrix x0 = gaussian_matrix(40, 5, rng, 10.0);
  Matrix x = x0;
  normalize_rows(x);
  for (Index i = 0; i < x.rows(); ++i) {
    EXPECT_NEAR(x.row(i).norm(), 1.0, 8.0 * kU);
    EXPECT_LE((x.row(i) * x0.row(i).norm() - x0.row(i)).norm(), 16.0 * kU * x0.row(i).norm());
  }
}

// Dynamics::velocity on the sphere equals P⊥ of the euclidean field, and the euclidean velocity is
// the field itself; both against the dense reference.
TEST(Geometry, SphereVelocityIsProjectedDenseField) {
  const Index n = 64, d = 5;
  for (const KernelInfo& info : kKernels) {
    for (bool multihead : {false, true}) {
      SCOPED_TRACE(std::string(info.name) + (multihead ? " 3 heads" : " identity"));
      Rng rng(21);
      const Matrix x = sphere_points(n, d, rng);
      const std::vector<double> w = random_weights(n, rng);
      const std::vector<double> pos = index_positions(n);
      Model sphere_model = multihead ? multi_head(d, 1.0, info.kind, rng, Geometry::sphere)
                                     : identity_heads(d, 3.0, info.kind, Geometry::sphere);
      Model flat_model = sphere_model;
      flat_model.geometry = Geometry::euclidean;

      const dense::FieldResult ref = dense::field(sphere_model, x, w, pos);
      const double rel = engine_bound(sphere_model, ref, w, n, d);
      expect_well_posed(sphere_model, ref, rel);
      const Matrix projected = dense::project_tangent(x, ref.v);

      Dynamics sphere(AttentionField(sphere_model, w, pos));
      Dynamics flat(AttentionField(flat_model, w, pos));
      EXPECT_EQ(sphere.geometry(), Geometry::sphere);
      Matrix v_sphere, v_flat, a_sphere;
      sphere.velocity(0.0, x, v_sphere);
      flat.velocity(0.0, x, v_flat);
      sphere.attention(0.0, x, a_sphere);
      EXPECT_EQ(sphere.evaluations(), 2u);
      EXPECT_EQ(flat.evaluations(), 1u);

      EXPECT_TRUE(within_scaled(v_flat, ref.v, ref.v_abs, rel));
      EXPECT_TRUE(a_sphere == v_flat);  // the raw attention ignores the geometry
      // The field's error δv_i (≤ rel·v_abs_i entrywise) passes through P⊥ with ‖P⊥δv_i‖_∞ ≤
      // ‖δv_i‖_2 ≤ rel ‖v_abs_i‖_2; the projection adds ≤ (d + 4) u |v_i| ≤ (d + 4) u ‖v_abs_i‖_2.
      Matrix scale(n, d);
      for (Index i = 0; i < n; ++i) scale.row(i).setConstant(ref.v_abs.row(i).norm());
      EXPECT_TRUE(within_scaled(v_sphere, projected, scale, rel + static_cast<double>(d + 4) * kU));
      // Tangency: projection rounding plus the dot product's own, (2d + 4) u |v_i|.
      for (Index i = 0; i < n; ++i)
        EXPECT_LE(std::fabs(x.row(i).dot(v_sphere.row(i))),
                  static_cast<double>(2 * d + 4) * kU * scale(i, 0));
      EXPECT_GT(projected.cwiseAbs().maxCoeff(), 1e-2);  // not a comparison of zeros
    }
  }
}

}  // namespace
