// Cluster analysis ([R] §4): δ-similarity graph, its components, pair fraction, mean cosine.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "attnflow/clusters.hpp"
#include "attnflow/error.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

/// Canonical labels of an assignment: groups renumbered 0, 1, … in order of first appearance.
std::vector<std::int64_t> canonical(const std::vector<int>& group) {
  std::vector<std::int64_t> label(group.size());
  std::vector<std::int64_t> seen(group.size() + 1, -1);
  std::int64_t next = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    auto& s = seen[static_cast<std::size_t>(group[i])];
    if (s < 0) s = next++;
    label[i] = s;
  }
  return label;
}

// Planted groups of sizes 5, 3, 2, 1 around ±e₁, e₂, e₃ (pairwise cosines ≤ 0), members within
// ~10⁻³ of their centre (Gaussian noise 5·10⁻⁴ per coordinate: cosine > 1 − 10⁻⁴ inside a group),
// listed in a shuffled order and with arbitrary norms (the analysis uses directions). δ = 10⁻³: 4
// clusters and exactly (C(5,2) + C(3,2) + C(2,2) + 0) / C(11,2) = (10 + 3 + 1)/55 = 14/55 linked
// pairs.
TEST(Clusters, PlantedGroupsAreFoundExactly) {
  const int sizes[4] = {5, 3, 2, 1};
  Matrix centres(4, 3);
  centres << 1, 0, 0, 0, 1, 0, 0, 0, 1, -1, 0, 0;
  std::vector<int> group;
  for (int g = 0; g < 4; ++g)
    for (int s = 0; s < sizes[g]; ++s) group.push_back(g);
  Rng rng(1);
  const std::vector<Index> perm = random_permutation(static_cast<Index>(group.size()), rng);
  std::vector<int> shuffled;
  for (Index p : perm) shuffled.push_back(group[p]);
  const auto n = static_cast<Index>(shuffled.size());
  Matrix x(n, 3);
  for (Index i = 0; i < n; ++i) {
    x.row(i) = centres.row(shuffled[i]) + 5e-4 * gaussian_matrix(1, 3, rng);
    x.row(i) *= 0.1 + 10.0 * rng.uniform();
  }
  const ClusterSummary s = clusters(x, 1e-3);
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.pair_fraction, 14.0 / 55.0);
  EXPECT_EQ(s.labels, canonical(shuffled));
  EXPECT_EQ(s.labels[0], 0);  // numbered by first appearance
}

// Components are transitive closures: points on a great circle spaced by α with
// 1 − cos α = 8·10⁻⁴ < δ = 10⁻³ < 1 − cos 2α = 3.2·10⁻³ form one cluster through a chain of
// 9 links out of 45 pairs.
TEST(Clusters, ChainIsOneComponent) {
  const Index n = 10;
  Matrix x(n, 2);
  for (Index i = 0; i < n; ++i)
    x.row(i) << std::cos(0.04 * static_cast<double>(i)), std::sin(0.04 * static_cast<double>(i));
  const ClusterSummary s = clusters(x, 1e-3);
  EXPECT_EQ(s.count, 1);
  EXPECT_DOUBLE_EQ(s.pair_fraction, 9.0 / 45.0);
  EXPECT_EQ(s.labels, std::vector<std::int64_t>(n, 0));
}

// Random points: the linked-pair count and components against a brute force written here (explicit
// cosines, breadth-first search in index order, so labels come out in first-appearance order).
TEST(Clusters, MatchesBruteForceOnRandomPoints) {
  for (double delta : {0.002, 0.01, 0.03}) {
    SCOPED_TRACE(delta);
    const Index n = 200, d = 3;
    Rng rng(2);
    const Matrix x = radial_points(n, d, rng);
    std::vector<std::vector<Index>> adj(n);
    std::int64_t links = 0;
    for (Index i = 0; i < n; ++i)
      for (Index j = i + 1; j < n; ++j) {
        long double dot = 0.0L;
        for (Index c = 0; c < d; ++c) dot += static_cast<long double>(x(i, c)) * x(j, c);
        const long double cosine =
            dot / (static_cast<long double>(x.row(i).norm()) * x.row(j).norm());
        if (cosine > 1.0L - delta) {
          ++links;
          adj[i].push_back(j);
          adj[j].push_back(i);
        }
      }
    std::vector<std::int64_t> label(n, -1);
    std::int64_t count = 0;
    for (Index i = 0; i < n; ++i) {
      if (label[i] >= 0) continue;
      std::vector<Index> queue = {i};
      label[i] = count;
      for (std::size_t q = 0; q < queue.size(); ++q)
        for (Index j : adj[queue[q]])
          if (label[j] < 0) {
            label[j] = count;
            queue.push_back(j);
          }
      ++count;
    }
    const ClusterSummary s = clusters(x, delta);
    EXPECT_EQ(s.count, count);
    EXPECT_DOUBLE_EQ(s.pair_fraction,
                     static_cast<double>(links) / (0.5 * static_cast<double>(n * (n - 1))));
    EXPECT_EQ(s.labels, label);
    EXPECT_GT(count, 1);
    EXPECT_LT(count, n);  // neither all singletons nor one blob: the case is informative
  }
}

// The grid search (clusters_spatial, d ≤ 3) must give the exact result bitwise: same count, same
// pair fraction, same labels as the O(N²) clusters(), which itself matches the brute force above.
// Cases: random directions with radii, clustered points (many pairs per cell), points placed on
// cell-boundary-like coordinates (multiples of √(2δ)), d = 1, 2, 3, and δ from 10⁻⁴ to 2.5 (every
// pair linked once δ ≥ 2).
TEST(Clusters, SpatialGridEqualsExactBitwise) {
  Rng rng(3);
  for (Index d : {1, 2, 3}) {
    for (double delta : {1e-4, 1e-3, 0.02, 0.3, 2.5}) {
      SCOPED_TRACE(std::to_string(d) + " " + std::to_string(delta));
      std::vector<Matrix> cases = {radial_points(400, d, rng)};
      Matrix clustered(300, d);
      const Matrix centres = sphere_points(5, d, rng);
      for (Index i = 0; i < 300; ++i)
        clustered.row(i) = centres.row(i % 5) + 0.3 * std::sqrt(delta) * gaussian_matrix(1, d, rng);
      cases.push_back(clustered);
      Matrix grid(200, d);
      const double side = std::sqrt(2.0 * delta);
      for (Index i = 0; i < 200; ++i)
        for (Index c = 0; c < d; ++c)
          grid(i, c) = side * static_cast<double>(static_cast<int>(rng.uniform() * 7.0) - 3);
      for (Index i = 0; i < 200; ++i)
        if (grid.row(i).norm() == 0.0) grid(i, 0) = side;
      cases.push_back(grid);
      for (const Matrix& x : cases) {
        const ClusterSummary exact = clusters(x, delta);
        const ClusterSummary fast = clusters_spatial(x, delta);
        EXPECT_EQ(fast.count, exact.count);
        EXPECT_EQ(fast.pair_fraction, exact.pair_fraction);
        EXPECT_EQ(fast.labels, exact.labels);
      }
    }
  }
  try {
    clusters_spatial(Matrix::Identity(4, 4), 0.1);
    ADD_FAILURE() << "d = 4 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.key(), "clusters.method");
    EXPECT_EQ(std::string(e.what()),
              "clusters.method: 'spatial' needs d <= 3, got d = 4; use 'exact' (any d)");
  }
}

// mean_cosine's O(Nd) formula (|Σ x̂|² − N)/(N(N−1)) against the O(N²) mean over i ≠ j. Rounding of
// the formula: both sums are ≤ γ_{N+d}(N + |Σx̂|²) ≤ 2(N + d) u N², divided by N(N−1): ≤ 8(N + d) u.
TEST(Clusters, MeanCosineMatchesPairwiseMean) {
  for (Index n : {2, 17, 300}) {
    SCOPED_TRACE(n);
    Rng rng(static_cast<std::uint64_t>(n));
    Matrix x = radial_points(n, 4, rng);
    for (Index i = 0; i < n; ++i) x(i, 0) += 0.8 * x.row(i).norm();  // a non-zero mean direction
    long double total = 0.0L;
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j)
        if (i != j)
          total += static_cast<long double>(x.row(i).dot(x.row(j))) /
                   (x.row(i).norm() * x.row(j).norm());
    const double expected = static_cast<double>(total / (static_cast<long double>(n) * (n - 1)));
    EXPECT_NEAR(mean_cosine(x), expected, 8.0 * static_cast<double>(n + 4) * kU);
  }
  Matrix same(5, 3);
  for (Index i = 0; i < 5; ++i)
    same.row(i) << static_cast<double>(i + 1), 2.0 * static_cast<double>(i + 1), 0.0;
  EXPECT_NEAR(mean_cosine(same), 1.0, 64.0 * kU);
  Matrix opposite(2, 2);
  opposite << 1, 0, -3, 0;
  EXPECT_DOUBLE_EQ(mean_cosine(opposite), -1.0);
}

}  // namespace
