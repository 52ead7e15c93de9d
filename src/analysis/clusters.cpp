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
  // dot product (≤ 4u) and of the normalisation, so no pair the exact method links is missed.
  const double h = std::sqrt(2.0 * delta + 1e-9);
  using Cell = std::array<std::int64_t, 3>;
  std::vector<Cell> cell(static_cast<std::size_t>(n), Cell{0, 0, 0});
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < d; ++c)
      cell[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)] =
          static_cast<std::int64_t>(std::floor(u(i, c) / h));
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    const Cell& ca = cell[static_cast<std::size_t>(a)];
    const Cell& cb = cell[static_cast<std::size_t>(b)];
    return ca != cb ? ca < cb : a < b;
  });
  std::vector<Cell> sorted_cells(order.size());
  for (std::size_t k = 0; k < order.size(); ++k)
    sorted_cells[k] = cell[static_cast<std::size_t>(order[k])];

  DisjointSets sets(n);
  std::int64_t linked_pairs = 0;
  const int reach[3] = {d > 0 ? 1 : 0, d > 1 ? 1 : 0, d > 2 ? 1 : 0};
  for (Index i = 0; i < n; ++i) {
    const Cell& ci = cell[static_cast<std::size_t>(i)];
    for (int a = -reach[0]; a <= reach[0]; ++a)
      for (int b = -reach[1]; b <= reach[1]; ++b)
        for (int c = -reach[2]; c <= reach[2]; ++c) {
          const Cell key{ci[0] + a, ci[1] + b, ci[2] + c};
          auto it = std::lower_bound(sorted_cells.begin(), sorted_cells.end(), key);
          for (; it != sorted_cells.end() && *it == key; ++it) {
            const Index j = order[static_cast<std::size_t>(it - sorted_cells.begin())];
            if (j <= i) continue;
            // The same expression, operands in the same order, as clusters(): the same decision.
            if (u.row(i).dot(u.row(j)) > threshold) {
              ++linked_pairs;
              sets.unite(i, j);
            }
          }
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
