#pragma once
// Geometry policies: R^d (the Transformer PDE of [C]) and the unit sphere S^{d−1} (Post-LN
// idealised as |x| = 1, [B], [R]: ẋ_i = P⊥_{x_i} v_i).
#include <string_view>

#include "attnflow/model.hpp"
#include "attnflow/types.hpp"

namespace attnflow {

/// v_i ← P⊥_{x_i} v_i = v_i − ⟨x_i, v_i⟩ x_i for every row (SPEC notation; exact tangent
/// projection when |x_i| = 1, and an extension off the sphere that keeps |x| = 1 invariant).
void project_tangent(const Matrix& x, Matrix& v);

/// x_i ← x_i / |x_i| for every row: the retraction onto S^{d−1} (LayerNorm without gain/bias).
void normalize_rows(Matrix& x);

/// The velocity the geometry imposes: v itself in R^d, P⊥_x v on the sphere.
void apply_geometry(Geometry geometry, const Matrix& x, Matrix& v);

/// "euclidean" / "sphere".
std::string_view geometry_name(Geometry geometry);

/// Looks a geometry up by name ("circle" is the sphere S¹, d = 2); throws InputError(key, ...).
Geometry geometry_from_name(std::string_view name, const std::string& key);

}  // namespace attnflow
