#pragma once
// Inputs for the analysis tests (W2, metastability, spectra, stationary states, spatial clusters,
// sweeps): random tokens, masses and models. Only inputs are made here; expected values come from
// the tests' own brute-force or closed-form computations.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "attnflow/model.hpp"
#include "attnflow/rng.hpp"
#include "attnflow/types.hpp"

namespace analysistest {

using attnflow::Index;
using attnflow::Matrix;
using attnflow::Rng;

/// Unit round-off of float64.
inline constexpr double kU = std::numeric_limits<double>::epsilon() / 2.0;

inline Matrix gaussian_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.normal();
  return m;
}

/// Rows uniform on S^{d−1} (normalised Gaussians).
inline Matrix sphere_points(Index n, Index d, Rng& rng) {
  Matrix x = gaussian_matrix(n, d, rng);
  for (Index i = 0; i < n; ++i) x.row(i) /= x.row(i).norm();
  return x;
}

/// Sphere directions with radii uniform in [0.5, 1.5].
inline Matrix radial_points(Index n, Index d, Rng& rng) {
  Matrix x = sphere_points(n, d, rng);
  for (Index i = 0; i < n; ++i) x.row(i) *= 0.5 + rng.uniform();
  return x;
}

/// Normalised Exp(1) masses with every token j ≡ 1 (mod 4) massless (N > 1).
inline std::vector<double> random_weights(Index n, Rng& rng) {
  std::vector<double> w(static_cast<std::size_t>(n));
  for (Index j = 0; j < n; ++j)
    w[static_cast<std::size_t>(j)] = (n > 1 && j % 4 == 1) ? 0.0 : -std::log(1.0 - rng.uniform());
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& v : w) v /= total;
  return w;
}

inline std::vector<double> uniform_weights(Index n) {
  return std::vector<double>(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
}

inline std::vector<double> index_positions(Index n) {
  std::vector<double> p(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = static_cast<double>(i);
  return p;
}

/// Fisher–Yates permutation of 0..n−1.
inline std::vector<Index> random_permutation(Index n, Rng& rng) {
  std::vector<Index> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), Index{0});
  for (Index i = n - 1; i > 0; --i) {
    const auto j = std::min(static_cast<Index>(rng.uniform() * static_cast<double>(i + 1)), i);
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

/// One head with the given Q, K, V (W = identity).
inline attnflow::Model one_head(const Matrix& q, const Matrix& k, const Matrix& v, double beta,
                                attnflow::KernelKind kernel,
                                attnflow::Geometry geometry = attnflow::Geometry::sphere) {
  attnflow::Model m;
  m.geometry = geometry;
  m.kernel = kernel;
  m.beta = beta;
  m.heads.push_back(attnflow::Head{q, k, v, Matrix()});
  return m;
}

}  // namespace analysistest
