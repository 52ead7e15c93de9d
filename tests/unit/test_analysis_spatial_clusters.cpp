// The spatial (grid) cluster search gives exactly the exact method's answer (same labels, same
// linked-pair count) for d ≤ 3; cluster reports (sizes, masses, centres) and batch statistics
// against direct computations.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "analysis_test_support.hpp"
#include "attnflow/analysis/cluster_report.hpp"
#include "attnflow/clusters.hpp"
#include "attnflow/error.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::analysis;
using analysistest::gaussian_matrix;
using analysistest::radial_points;
using analysistest::sphere_points;

void expect_same(const ClusterSummary& a, const ClusterSummary& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.pair_fraction, b.pair_fraction);  // bitwise: the same number of linked pairs
  EXPECT_EQ(a.labels, b.labels);
}

// Random directions in d = 1, 2, 3 (d = 1: ±1 after normalisation, plus exact zeros), thresholds
// from tiny to nearly 2, including δ > 1 where a zero row links to everything.
TEST(SpatialClusters, AgreesWithExactOnRandomPoints) {
  Rng rng(21);
  for (Index d = 1; d <= 3; ++d)
    for (double delta : {1e-4, 1e-3, 0.01, 0.05, 0.3, 1.0, 1.5, 1.99}) {
      SCOPED_TRACE(testing::Message() << "d = " << d << ", delta = " << delta);
      Matrix x = radial_points(300, d, rng);
      x.row(7).setZero();
      x.row(8) = 3.0 * x.row(9);  // a duplicate direction
      const ClusterSummary exact = clusters(x, delta);
      expect_same(clusters_spatial(x, delta), exact);
    }
}

// Planted groups of 5 on S² whose members lie at distances ≈ √(2δ) from each other (near the link
// boundary, where the grid's candidate search must not miss a pair) and far from other groups.
TEST(SpatialClusters, AgreesWithExactOnPlantedClustersNearTheThreshold) {
  Rng rng(22);
  const double delta = 1e-3;
  const Matrix centres = sphere_points(120, 3, rng);
  Matrix x(600, 3);
  for (Index i = 0; i < 600; ++i) {
    x.row(i) = centres.row(i % 120) + std::sqrt(delta) * gaussian_matrix(1, 3, rng);
    x.row(i) /= x.row(i).norm();
  }
  const ClusterSummary exact = clusters(x, delta);
  EXPECT_GT(exact.count, 120);  // the spread makes some groups split: an informative case
  EXPECT_LT(exact.count, 600);
  expect_same(clusters_spatial(x, delta), exact);
}

TEST(SpatialClusters, RefusesHighDimensions) {
  try {
    clusters_spatial(Matrix::Zero(3, 4), 0.1);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "clusters.method: 'spatial' needs d <= 3, got d = 4; use 'exact' (any d)");
  }
}

// Two planted groups with known masses and centres: sizes, masses, centres against the data.
TEST(ClusterReport, SizesMassesAndCentres) {
  Matrix x(5, 3);
  x << 1, 0, 0,    //
      0, 2, 0,     //
      1, 1e-3, 0,  //
      0, 1, 1e-3,  //
      2, -1e-3, 0;
  const std::vector<double> w{0.1, 0.2, 0.3, 0.15, 0.25};
  for (ClusterMethod m : {ClusterMethod::exact, ClusterMethod::spatial}) {
    const ClusterReport r = cluster_report(x, w, 1e-3, m);
    ASSERT_EQ(r.summary.count, 2);
    EXPECT_EQ(r.summary.labels, (std::vector<std::int64_t>{0, 1, 0, 1, 0}));
    EXPECT_EQ(r.sizes, (std::vector<std::int64_t>{3, 2}));
    EXPECT_NEAR(r.masses[0], 0.65, 1e-15);
    EXPECT_NEAR(r.masses[1], 0.35, 1e-15);
    // Centre 0: normalised 0.1 e1 + 0.3 x̂_2 + 0.25 x̂_4, computed here by hand-written sums.
    Vector c(3);
    c.setZero();
    for (int i : {0, 2, 4})
      c += w[static_cast<std::size_t>(i)] * x.row(i).transpose() / x.row(i).norm();
    c /= c.norm();
    EXPECT_NEAR((r.centres.row(0).transpose() - c).norm(), 0.0, 1e-15);
    EXPECT_NEAR(r.centres.row(1).norm(), 1.0, 1e-15);
  }
}

// Quantiles with NumPy's default linear rule, hand-computed: [1, 2, 3, 4], q = 0.25 → position
// 0.75 → 1.75; the median of an even count is the midpoint; NaN entries are skipped.
TEST(BatchStatistics, LinearQuantilesAndMean) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(median({5, nan, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(finite_mean({1, nan, 2}), 1.5);
  EXPECT_TRUE(std::isnan(median({nan})));
}

TEST(ClusterReport, ThresholdAndMethodErrors) {
  for (double bad : {0.0, 2.0, -1.0, 3.0, std::numeric_limits<double>::quiet_NaN()})
    EXPECT_THROW(validate_cluster_threshold(bad, "--threshold"), InputError);
  EXPECT_NO_THROW(validate_cluster_threshold(1e-3, "--threshold"));
  try {
    validate_cluster_threshold(2.5, "--threshold");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--threshold: must lie in (0, 2), got 2.5");
  }
  try {
    cluster_method_from_name("kdtree", "--method");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--method: unknown method 'kdtree'; allowed: exact, spatial");
  }
}

}  // namespace
