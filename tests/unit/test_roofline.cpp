// The roofline's cost model and bound arithmetic (include/attnflow/roofline.hpp). No timing: the
// measured rates are only checked to be positive and finite.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "attnflow/roofline.hpp"

namespace attnflow::roofline {
namespace {

TEST(Roofline, SoftmaxPairCostReadsOffTheKernel) {
  const PairCost c = softmax_pair_cost(3, 3);
  EXPECT_EQ(c.exps, 1.0);
  EXPECT_EQ(c.mul_adds, 6.0);    // k score + dv value mul-adds
  EXPECT_EQ(c.single_ops, 5.0);  // · β, + log w, max, − m, lane sum
  EXPECT_EQ(mul_add_equivalents(c), 8.5);
  EXPECT_EQ(softmax_pair_cost(64, 64).mul_adds, 128.0);
  EXPECT_EQ(softmax_pair_cost(4, 7).mul_adds, 11.0);
}

TEST(Roofline, BoundAddsTheTimesOfExpAndMulAdds) {
  const PairCost c = softmax_pair_cost(3, 3);
  // 1 exp at 1e9/s = 1 ns, 8.5 mul-adds at 8.5e9/s = 1 ns: 2 ns per pair.
  EXPECT_DOUBLE_EQ(bound_pairs_per_second(c, 1e9, 8.5e9), 5e8);
  const PairCost d64 = softmax_pair_cost(64, 64);
  EXPECT_DOUBLE_EQ(bound_pairs_per_second(d64, 1e9, 4e10), 1.0 / (1e-9 + 130.5 / 4e10));
  // Faster peaks never lower the bound.
  EXPECT_GT(bound_pairs_per_second(c, 2e9, 8.5e9), bound_pairs_per_second(c, 1e9, 8.5e9));
  EXPECT_THROW((void)bound_pairs_per_second(c, 0.0, 1.0), std::invalid_argument);
  EXPECT_THROW((void)bound_pairs_per_second(c, 1.0, std::nan("")), std::invalid_argument);
}

TEST(Roofline, MicrobenchmarksReturnPositiveRates) {
  const Rate e = measure_exp_rate(1, 1e-3);
  const Rate m = measure_mul_add_rate(1, 1e-3);
  for (const Rate& r : {e, m}) {
    EXPECT_TRUE(std::isfinite(r.per_second_one_thread) && r.per_second_one_thread > 0.0);
    EXPECT_TRUE(std::isfinite(r.per_second_all_threads) && r.per_second_all_threads > 0.0);
    EXPECT_TRUE(std::isfinite(r.checksum));
  }
}

}  // namespace
}  // namespace attnflow::roofline
