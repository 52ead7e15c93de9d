// The engine's exponential (fast_exp.hpp, simd.hpp) against the correctly rounded reference
// expl() in long double: the error bound stated in fast_exp.hpp is measured here, over a dense
// sweep of the whole domain, not assumed.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attnflow/fast_exp.hpp"
#include "attnflow/simd.hpp"

namespace {

/// |computed − exact| in units of the last place of the exact value (long double reference).
double ulp_error(double computed, long double exact) {
  const double rounded = static_cast<double>(exact);
  const double ulp = std::nextafter(rounded, std::numeric_limits<double>::infinity()) - rounded;
  return static_cast<double>(std::fabs(static_cast<long double>(computed) - exact) / ulp);
}

TEST(FastExp, WithinTwoUlpOverTheWholeDomain) {
  // 2·10⁶ points over [−708, 709], plus the region near 0 where the engine spends its time.
  double worst_scalar = 0.0, worst_vector = 0.0;
  constexpr int kPoints = 2'000'000;
  for (int i = 0; i < kPoints; i += 8) {
    attnflow::simd::v8d x;
    for (int l = 0; l < 8; ++l) x[l] = -708.0 + 1417.0 * (i + l + 0.5) / kPoints;
    const auto y = attnflow::simd::exp(attnflow::simd::Pack<attnflow::simd::v8d, 1>{{x}});
    for (int l = 0; l < 8; ++l) {
      const long double exact = expl(static_cast<long double>(x[l]));
      worst_vector = std::max(worst_vector, ulp_error(y[l], exact));
      worst_scalar = std::max(worst_scalar, ulp_error(attnflow::fast_exp(x[l]), exact));
    }
  }
  for (int i = 0; i < 100'000; ++i) {
    const double x = -40.0 * i / 100'000.0;
    worst_scalar =
        std::max(worst_scalar, ulp_error(attnflow::fast_exp(x), expl(static_cast<long double>(x))));
  }
  EXPECT_LE(worst_scalar, 2.0);
  EXPECT_LE(worst_vector, 2.0);
  RecordProperty("worst_ulp", std::to_string(std::max(worst_scalar, worst_vector)));
}

TEST(FastExp, EdgeCases) {
  EXPECT_EQ(attnflow::fast_exp(0.0), 1.0);
  EXPECT_EQ(attnflow::fast_exp(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(attnflow::fast_exp(-709.0), 0.0);  // below −708: flushed to zero by design
  EXPECT_TRUE(std::isnan(attnflow::fast_exp(std::numeric_limits<double>::quiet_NaN())));
  attnflow::simd::v8d x{0.0,
                        -std::numeric_limits<double>::infinity(),
                        std::numeric_limits<double>::quiet_NaN(),
                        800.0,
                        -1.0,
                        1.0,
                        -708.0,
                        709.0};
  const auto y = attnflow::simd::exp(attnflow::simd::Pack<attnflow::simd::v8d, 1>{{x}});
  EXPECT_EQ(y[0], 1.0);
  EXPECT_EQ(y[1], 0.0);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_EQ(y[3], std::numeric_limits<double>::infinity());
  EXPECT_LE(ulp_error(y[4], expl(-1.0L)), 2.0);
  EXPECT_LE(ulp_error(y[5], expl(1.0L)), 2.0);
  EXPECT_GT(y[6], 0.0);
  EXPECT_TRUE(std::isfinite(y[7]));
}

}  // namespace
