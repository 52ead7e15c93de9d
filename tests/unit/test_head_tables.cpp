// The identity test and the caller's projection hint of head_tables.hpp: a known identity gives
// the same tables as the test, bit for bit, and the test accepts exactly the identity.
#include <gtest/gtest.h>

#include <initializer_list>
#include <limits>

#include "attnflow/head_tables.hpp"
#include "attnflow/init.hpp"

namespace attnflow {
namespace {

TEST(HeadTables, IsIdentityAcceptsExactlyTheIdentity) {
  const Index d = 37;
  Matrix m = Matrix::Identity(d, d);
  EXPECT_TRUE(is_identity(m));
  m(3, 5) = 1e-300;
  EXPECT_FALSE(is_identity(m));
  m(3, 5) = -0.0;  // not bitwise +0: the product path, which is exact anyway
  EXPECT_FALSE(is_identity(m));
  m(3, 5) = 0.0;
  m(36, 36) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(is_identity(m));
  EXPECT_FALSE(is_identity(Matrix::Identity(3, 4)));
  EXPECT_TRUE(is_identity(Matrix::Identity(1, 1)));
}

TEST(HeadTables, ProjectionHintsGiveTheSameTables) {
  const Index n = 45, d = 6;  // several key blocks would need n > 32; 45 also pads to 48
  const Matrix x = sample_uniform_sphere(n, d, 3);
  std::vector<double> w(static_cast<std::size_t>(n), 1.0 / n), pos(static_cast<std::size_t>(n));
  for (Index j = 0; j < n; ++j) pos[static_cast<std::size_t>(j)] = static_cast<double>(j);
  const Matrix identity = Matrix::Identity(d, d);
  Matrix general = Matrix::Identity(d, d);
  general(0, 1) = 0.5;
  for (const Matrix* p : std::initializer_list<const Matrix*>{&identity, &general}) {
    const Projection hint = is_identity(*p) ? Projection::identity : Projection::general;
    QueryTable q1, q2;
    fill_queries(*p, x, pos, q1);
    fill_queries(*p, x, pos, q2, hint);
    EXPECT_EQ(q1.queries, q2.queries);
    KeyTable k1, k2;
    fill_keys(*p, &identity, x, w, pos, k1);
    fill_keys(*p, &identity, x, w, pos, k2, hint, Projection::identity);
    EXPECT_EQ(k1.keys, k2.keys);
    EXPECT_EQ(k1.values, k2.values);
    EXPECT_EQ(k1.log_weight, k2.log_weight);
    // Entry (c, j) of the block-major table is (R x_j)_c.
    for (Index j = 0; j < n; ++j)
      for (Index c = 0; c < d; ++c) {
        double s = 0.0;
        for (Index e = 0; e < d; ++e) s += (*p)(c, e) * x(j, e);
        EXPECT_EQ(k2.key_at(c, j), s) << j << " " << c;
        EXPECT_EQ(k2.value_at(c, j), x(j, c));
      }
  }
}

}  // namespace
}  // namespace attnflow
