#pragma once
// Initial token configurations ([R] uniform on the sphere, [C] Gaussian data, [R] equiangular).
#include <cstdint>

#include "attnflow/types.hpp"

namespace attnflow {

/// n points uniform on S^{d−1}: normalised standard Gaussian vectors.
Matrix sample_uniform_sphere(Index n, Index d, std::uint64_t seed);

/// n samples of N(mean, cov) (cov symmetric PSD; factored by an eigendecomposition so that
/// singular covariances work). Throws InputError("init.cov", ...) if cov is not symmetric PSD.
Matrix sample_gaussian(Index n, const Vector& mean, const Matrix& cov, std::uint64_t seed);

/// n unit vectors in R^d (d ≥ n) with all ⟨x_i, x_j⟩ = ρ, ρ ∈ [−1/(n−1), 1] ([R] equiangular
/// model): x_i = a e_i + b u with u = 1/√n and a² = 1 − ρ, b² + 2ab/√n = ρ. Throws InputError.
Matrix equiangular_points(Index n, Index d, double rho);

}  // namespace attnflow
