#include "attnflow/clusters.hpp"

#include <numeric>

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

double mean_cosine(const Matrix& x) {
  const Index n = x.rows();
  if (n < 2) return 1.0;
  const Matrix u = directions(x);
  const Eigen::RowVectorXd s = u.colwise().sum();
  const double nn = static_cast<double>(n);
  return (s.squaredNorm() - u.rowwise().squaredNorm().sum()) / (nn * (nn - 1.0));
}

}  // namespace attnflow
