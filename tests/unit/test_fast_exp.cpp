// The engine's exponential (simd::exp, reached through vector_exp.hpp at every vector width the
// CPU supports) against the correctly rounded reference expl() in long double: the error bound
// stated in simd.hpp is measured here, over a dense sweep of the whole domain, not assumed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "attnflow/simd_dispatch.hpp"
#include "attnflow/vector_exp.hpp"

namespace {

using attnflow::SimdWidth;

/// |computed − exact| in units of the last place of the exact value (long double reference).
double ulp_error(double computed, long double exact) {
  const double rounded = static_cast<double>(exact);
  const double ulp = std::nextafter(rounded, std::numeric_limits<double>::infinity()) - rounded;
  return static_cast<double>(std::fabs(static_cast<long double>(computed) - exact) / ulp);
}

std::vector<SimdWidth> supported_widths() {
  std::vector<SimdWidth> out;
  for (SimdWidth w : {SimdWidth::avx512, SimdWidth::avx2, SimdWidth::sse2})
    if (attnflow::simd_width_supported(w)) out.push_back(w);
  return out;
}

TEST(FastExp, WithinTwoUlpOverTheWholeDomain) {
  // 2·10⁶ points over [−708, 709] (an odd count, so the last vector is a padded one), plus the
  // region near 0 where the engine spends its time.
  std::vector<double> x;
  constexpr int kPoints = 2'000'001;
  for (int i = 0; i < kPoints; ++i) x.push_back(-708.0 + 1417.0 * (i + 0.5) / kPoints);
  for (int i = 0; i < 100'000; ++i) x.push_back(-40.0 * i / 100'000.0);
  std::vector<double> y(x.size());
  for (SimdWidth width : supported_widths()) {
    attnflow::exp_at_width(width, x, y);
    double worst = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, ulp_error(y[i], expl(static_cast<long double>(x[i]))));
    const std::string name(attnflow::simd_width_name(width));
    EXPECT_LE(worst, 2.0) << name;
    RecordProperty("worst_ulp_" + name, std::to_string(worst));
  }
}

TEST(FastExp, EdgeCases) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> x{
      0.0, -inf, std::numeric_limits<double>::quiet_NaN(), 800.0, -1.0, 1.0, -708.0, 709.0, -709.0};
  std::vector<double> y(x.size());
  for (SimdWidth width : supported_widths()) {
    SCOPED_TRACE(std::string(attnflow::simd_width_name(width)));
    attnflow::exp_at_width(width, x, y);
    EXPECT_EQ(y[0], 1.0);
    EXPECT_EQ(y[1], 0.0);
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(y[3], inf);
    EXPECT_LE(ulp_error(y[4], expl(-1.0L)), 2.0);
    EXPECT_LE(ulp_error(y[5], expl(1.0L)), 2.0);
    EXPECT_GT(y[6], 0.0);
    EXPECT_TRUE(std::isfinite(y[7]));
    EXPECT_EQ(y[8], 0.0);  // below −708: flushed to zero by design
  }
}

// The softmax weights' exponential (no overflow clamp) gives exp()'s bits wherever it is used:
// x ≤ 0, −∞, −0, NaN, double and float, at every width.
TEST(FastExp, NonPositiveVariantHasTheSameBits) {
  std::vector<double> x;
  for (int i = 0; i <= 200'000; ++i) x.push_back(-750.0 * i / 200'000.0);
  x.push_back(-std::numeric_limits<double>::infinity());
  x.push_back(-0.0);
  x.push_back(std::numeric_limits<double>::quiet_NaN());
  std::vector<float> xf(x.begin(), x.end());
  std::vector<double> a(x.size()), b(x.size());
  std::vector<float> af(x.size()), bf(x.size());
  for (SimdWidth width : supported_widths()) {
    SCOPED_TRACE(std::string(attnflow::simd_width_name(width)));
    attnflow::exp_at_width(width, x, a);
    attnflow::exp_nonpositive_at_width(width, x, b);
    attnflow::exp_at_width(width, xf, af);
    attnflow::exp_nonpositive_at_width(width, xf, bf);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(af.data(), bf.data(), af.size() * sizeof(float)), 0);
  }
}

}  // namespace
