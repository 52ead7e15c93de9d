#include "attnflow/clusters.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string>

#include "attnflow/error.hpp"

namespace attnflow {

namespace {

/// Union–find with path halving; the smaller index becomes the root so labels are canonical.
struct DisjointSets {
  std::vector<std::int64_t> parent;
  explicit DisjointSets(std::int64_t n) : parent(static_cast<std::size_t>(n)) {
    std::iota(parent.begin(), parent.end(), 0);
  }
  std::int64_t find(std::int64_t a) {
    while (parent[static_cast<std::size_t>(a)] != a) {
      auto& p = parent[static_cast<std::size_t>(a)];
      p = parent[static_cast<std::size_t>(p)];
      a = p;
    }
    return a;
  }
  void unite(std::int64_t a, std::int64_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (a < b) std::swap(a, b);
    parent[static_cast<std::size_t>(a)] = b;
  }
};

Matrix directions(const Matrix& x) {
  Matrix u = x;
  for (Index i = 0; i < u.rows(); ++i) {
    const double norm = u.row(i).norm();
    if (norm > 0.0) u.row(i) /= norm;
  }
  return u;
}

/// Labels numbered by first appearance and the pair fraction, from the unions made.
ClusterSummary summarise(DisjointSets& sets, Index n, std::int64_t linked_pairs) {
  ClusterSummary out;
  out.labels.assign(static_cast<std::size_t>(n), -1);
  std::vector<std::int64_t> label_of_root(static_cast<std::size_t>(n), -1);
  for (Index i = 0; i < n; ++i) {
    auto& label = label_of_root[static_cast<std::size_t>(sets.find(i))];
    if (label < 0) label = out.count++;
    out.labels[static_cast<std::size_t>(i)] = label;
  }
  const double pairs = 0.5 * static_cast<double>(n) * static_cast<double>(n - 1);
  out.pair_fraction = pairs > 0.0 ? static_cast<double>(linked_pairs) / pairs : 1.0;
  return out;
}

}  // namespace

ClusterSummary clusters(const Matrix& x, double delta) {
  const Index n = x.rows();
  const Matrix u = directions(x);
  const double threshold = 1.0 - delta;
  DisjointSets sets(n);
  std::int64_t linked_pairs = 0;
  for (Index i = 0; i < n; ++i)
    for (Index j = i + 1; j < n; ++j)
      if (u.row(i).dot(u.row(j)) > threshold) {
        ++linked_pairs;
        sets.unite(i, j);
      }
  return summarise(sets, n, linked_pairs);
}

ClusterSummary clusters_spatial(const Matrix& x, double delta) {
  const Index n = x.rows();
  const Index d = x.cols();
  if (d > 3)
    throw InputError("clusters.method", "'spatial' needs d <= 3, got d = " + std::to_string(d) +
                                            "; use 'exact' (any d)");
  const Matrix u = directions(x);
  const double threshold = 1.0 - delta;
  // A linked pair has |x̂_i − x̂_j|² = |x̂_i|² + |x̂_j|² − 2⟨x̂_i, x̂_j⟩ < 2δ (|x̂| ≤ 1, zero rows
  // included), so each coordinate differs by less than √(2δ): with cells of side h ≥ √(2δ) both
  // tokens lie in the same or adjacent cells. The margin 1e-9 absorbs the rounding of the computed
  // dot product (≤ 4u) and of the normalisation, so no pair the exact method links is missed; it
  // also bounds 1/h ≤ 31623, so each cell coordinate fits in 21 bits of a 64-bit key.
  const double h = std::sqrt(2.0 * delta + 1e-9);
  constexpr std::int64_t kOffset = std::int64_t{1} << 20;
  auto key_of = [](const std::array<std::int64_t, 3>& c) {
    return static_cast<std::uint64_t>(c[0] + kOffset) |
           (static_cast<std::uint64_t>(c[1] + kOffset) << 21) |
           (static_cast<std::uint64_t>(c[2] + kOffset) << 42);
  };
  std::vector<std::array<std::int64_t, 3>> cell(static_cast<std::size_t>(n), {0, 0, 0});
  std::vector<std::uint64_t> key(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    auto& c = cell[static_cast<std::size_t>(i)];
    for (Index k = 0; k < d; ++k)
      c[static_cast<std::size_t>(k)] = static_cast<std::int64_t>(std::floor(u(i, k) / h));
    key[static_cast<std::size_t>(i)] = key_of(c);
  }
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    const std::uint64_t ka = key[static_cast<std::size_t>(a)],
                        kb = key[static_cast<std::size_t>(b)];
    return ka != kb ? ka < kb : a < b;
  });
  // Occupied cells in key order, each a range [begin, end) of `order`.
  std::vector<std::uint64_t> cell_key;
  std::vector<std::size_t> cell_begin;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::uint64_t kk = key[static_cast<std::size_t>(order[k])];
    if (cell_key.empty() || cell_key.back() != kk) {
      cell_key.push_back(kk);
      cell_begin.push_back(k);
    }
  }
  cell_begin.push_back(order.size());

  DisjointSets sets(n);
  std::int64_t linked_pairs = 0;
  auto test = [&](Index i, Index j) {
    // The same expression, operands in the same order (smaller index first), as clusters().
    const Index a = std::min(i, j), b = std::max(i, j);
    if (u.row(a).dot(u.row(b)) > threshold) {
      ++linked_pairs;
      sets.unite(a, b);
    }
  };
  const int reach[3] = {d > 0 ? 1 : 0, d > 1 ? 1 : 0, d > 2 ? 1 : 0};
  for (std::size_t ca = 0; ca < cell_key.size(); ++ca) {
    const auto& c = cell[static_cast<std::size_t>(order[cell_begin[ca]])];
    for (int a = -reach[0]; a <= reach[0]; ++a)
      for (int b = -reach[1]; b <= reach[1]; ++b)
        for (int e = -reach[2]; e <= reach[2]; ++e) {
          const std::uint64_t kb = key_of({c[0] + a, c[1] + b, c[2] + e});
          if (kb < cell_key[ca]) continue;  // each pair of cells once
          const auto it = std::lower_bound(cell_key.begin(), cell_key.end(), kb);
          if (it == cell_key.end() || *it != kb) continue;
          const auto cb = static_cast<std::size_t>(it - cell_key.begin());
          for (std::size_t p = cell_begin[ca]; p < cell_begin[ca + 1]; ++p)
            for (std::size_t q = cb == ca ? p + 1 : cell_begin[cb]; q < cell_begin[cb + 1]; ++q)
              test(order[p], order[q]);
        }
  }
  return summarise(sets, n, linked_pairs);
}

double mean_cosine(const Matrix& x) {
  const Index n = x.rows();
  if (n < 2) return 1.0;
  const Matrix u = directions(x);
  const Eigen::RowVectorXd s = u.colwise().sum();
  const double nn = static_cast<double>(n);
  return (s.squaredNorm() - u.rowwise().squaredNorm().sum()) / (nn * (nn - 1.0));
}

}  // namespace attnflow
