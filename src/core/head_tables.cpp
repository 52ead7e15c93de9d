#include "attnflow/head_tables.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace attnflow {

/// Whether M is the identity: the papers' default Q = K = V = I. Projecting by it is a copy, and a
/// copy is O(n·d) where the product is O(n·d²) — at n = 32, d = 1024 the product costs 16× the
/// attention itself. The test runs on every evaluation, so it must be cheap next to the attention
/// (at n = 32, d = 128 a branch per entry cost as much): the off-diagonal entries of a row are
/// OR-ed as bit patterns (zero iff all are +0.0; the loop vectorises), and the test stops at the
/// first row that differs: at most d² entries (≤ 1/n of the product) for the identity, about d
/// for other matrices. A −0.0 entry makes it not the identity (the product path is then taken).
bool is_identity(const Matrix& m) {
  if (m.rows() != m.cols()) return false;
  const Index d = m.cols();
  for (Index r = 0; r < d; ++r) {
    const double* row = m.data() + r * d;
    if (row[r] != 1.0) return false;
    std::uint64_t bits = 0;
    for (Index c = 0; c < r; ++c) bits |= std::bit_cast<std::uint64_t>(row[c]);
    for (Index c = r + 1; c < d; ++c) bits |= std::bit_cast<std::uint64_t>(row[c]);
    if (bits != 0) return false;
  }
  return true;
}

namespace {

bool resolve(Projection kind, const Matrix& m) {
  return kind == Projection::unknown ? is_identity(m) : kind == Projection::identity;
}

}  // namespace

template <class T>
void fill_queries(const Matrix& P, const Matrix& x, const std::vector<double>& positions,
                  BasicQueryTable<T>& out, Projection p_kind) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index k = P.rows();
  out.n = n;
  out.k = k;
  out.queries.resize(static_cast<std::size_t>(n * k));
  out.position.assign(positions.begin(), positions.end());
  // With P = I the dot product below is exactly x_ia (up to the sign of a zero): copy instead.
  const bool identity = resolve(p_kind, P);
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index i = 0; i < n; ++i) {
    const double* xi = x.data() + i * d;
    T* qi = out.queries.data() + i * k;
    if (identity) {
      for (Index c = 0; c < d; ++c) qi[c] = static_cast<T>(xi[c]);
      continue;
    }
    for (Index a = 0; a < k; ++a) {
      const double* pa = P.data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += pa[c] * xi[c];
      qi[a] = static_cast<T>(s);
    }
  }
}

template <class T>
void fill_keys(const Matrix& R, const Matrix* U, const Matrix& x,
               const std::vector<double>& weights, const std::vector<double>& positions,
               BasicKeyTable<T>& out, Projection r_kind, Projection u_kind) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index k = R.rows();
  const Index dv = U != nullptr ? U->rows() : 0;
  if (out.n != n || out.k != k || out.dv != dv) out.resize(n, k, dv);
  const bool r_identity = resolve(r_kind, R);
  const bool u_identity =
      U != nullptr && (U == &R && u_kind == Projection::unknown ? r_identity : resolve(u_kind, *U));
  const bool values_copy_keys = r_identity && u_identity && dv == k;
  // Block by block (KeyTable's layout): feature a of key j of the block at j0 is at
  // a·len + (j − j0) of the block's k × len array, with no index division per entry.
  const Index n_blocks = (n + out.block - 1) / out.block;
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index b = 0; b < n_blocks; ++b) {
    const Index j0 = b * out.block;
    const Index len = out.block_length(j0);
    const Index j1 = std::min(n, j0 + len);
    T* key_block = out.keys.data() + j0 * k;
    T* value_block = out.values.data() + j0 * dv;
    for (Index j = j0; j < j1; ++j) {
      const double* xj = x.data() + j * d;
      const Index jj = j - j0;
      for (Index a = 0; a < k; ++a) {
        if (r_identity) {
          key_block[a * len + jj] = static_cast<T>(xj[a]);
          continue;
        }
        const double* ra = R.data() + a * d;
        double s = 0.0;
        for (Index c = 0; c < d; ++c) s += ra[c] * xj[c];
        key_block[a * len + jj] = static_cast<T>(s);
      }
      for (Index a = 0; a < dv && !values_copy_keys; ++a) {
        if (u_identity) {
          value_block[a * len + jj] = static_cast<T>(xj[a]);
          continue;
        }
        const double* ua = U->data() + a * d;
        double s = 0.0;
        for (Index c = 0; c < d; ++c) s += ua[c] * xj[c];
        value_block[a * len + jj] = static_cast<T>(s);
      }
      const double w = weights[static_cast<std::size_t>(j)];
      out.log_weight[static_cast<std::size_t>(j)] =
          static_cast<T>(w > 0.0 ? std::log(w) : -std::numeric_limits<double>::infinity());
      out.weight[static_cast<std::size_t>(j)] = static_cast<T>(w);
      out.position[static_cast<std::size_t>(j)] = positions[static_cast<std::size_t>(j)];
    }
    // K = V = I (the papers' default): the value block is the key block, copied contiguously
    // instead of transposed a second time entry by entry.
    if (values_copy_keys) std::copy(key_block, key_block + k * len, value_block);
  }
}

template void fill_queries(const Matrix&, const Matrix&, const std::vector<double>&, QueryTable&,
                           Projection);
template void fill_queries(const Matrix&, const Matrix&, const std::vector<double>&, QueryTable32&,
                           Projection);
template void fill_keys(const Matrix&, const Matrix*, const Matrix&, const std::vector<double>&,
                        const std::vector<double>&, KeyTable&, Projection, Projection);
template void fill_keys(const Matrix&, const Matrix*, const Matrix&, const std::vector<double>&,
                        const std::vector<double>&, KeyTable32&, Projection, Projection);

}  // namespace attnflow
