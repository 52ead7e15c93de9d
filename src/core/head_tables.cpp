#include "attnflow/head_tables.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnflow {

namespace {

/// Whether M is the identity: the papers' default Q = K = V = I. Projecting by it is a copy, and a
/// copy is O(n·d) where the product is O(n·d²) — at n = 32, d = 1024 the product costs 16× the
/// attention itself. The test exits at the first entry that differs, so it is cheap for other
/// matrices and at most d² comparisons (≤ 1/n of the product) for the identity.
bool is_identity(const Matrix& m) {
  if (m.rows() != m.cols()) return false;
  const Index d = m.cols();
  for (Index r = 0; r < d; ++r) {
    const double* row = m.data() + r * d;
    for (Index c = 0; c < d; ++c)
      if (row[c] != (r == c ? 1.0 : 0.0)) return false;
  }
  return true;
}

}  // namespace

void fill_queries(const Matrix& P, const Matrix& x, const std::vector<double>& positions,
                  QueryTable& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index k = P.rows();
  out.n = n;
  out.k = k;
  out.queries.resize(static_cast<std::size_t>(n * k));
  out.position.assign(positions.begin(), positions.end());
  // With P = I the dot product below is exactly x_ia (up to the sign of a zero): copy instead.
  const bool identity = is_identity(P);
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index i = 0; i < n; ++i) {
    const double* xi = x.data() + i * d;
    double* qi = out.queries.data() + i * k;
    if (identity) {
      std::copy(xi, xi + d, qi);
      continue;
    }
    for (Index a = 0; a < k; ++a) {
      const double* pa = P.data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += pa[c] * xi[c];
      qi[a] = s;
    }
  }
}

void fill_keys(const Matrix& R, const Matrix* U, const Matrix& x,
               const std::vector<double>& weights, const std::vector<double>& positions,
               KeyTable& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index k = R.rows();
  const Index dv = U != nullptr ? U->rows() : 0;
  if (out.n != n || out.k != k || out.dv != dv) out.resize(n, k, dv);
  const bool r_identity = is_identity(R);
  const bool u_identity = U != nullptr && (U == &R ? r_identity : is_identity(*U));
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index j = 0; j < n; ++j) {
    const double* xj = x.data() + j * d;
    for (Index a = 0; a < k; ++a) {
      if (r_identity) {
        out.key_at(a, j) = xj[a];
        continue;
      }
      const double* ra = R.data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += ra[c] * xj[c];
      out.key_at(a, j) = s;
    }
    for (Index a = 0; a < dv; ++a) {
      if (u_identity) {
        out.value_at(a, j) = xj[a];
        continue;
      }
      const double* ua = U->data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += ua[c] * xj[c];
      out.value_at(a, j) = s;
    }
    const double w = weights[static_cast<std::size_t>(j)];
    out.log_weight[static_cast<std::size_t>(j)] =
        w > 0.0 ? std::log(w) : -std::numeric_limits<double>::infinity();
    out.weight[static_cast<std::size_t>(j)] = w;
    out.position[static_cast<std::size_t>(j)] = positions[static_cast<std::size_t>(j)];
  }
}

}  // namespace attnflow
