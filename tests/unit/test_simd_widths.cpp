// The vector widths (simd::Width512 / Width256 / Width128, picked at run time by
// simd_dispatch.hpp): the widths with FMA (AVX-512, AVX2) give bitwise the same fields and
// velocities, for every kernel, mask and precision; SSE2 rounds its multiply-adds twice and is
// checked against the dense reference instead (ctest's engine_dense_sse2 reruns the engine's
// dense-reference suites at that width, engine_dense_avx2 at AVX2). The run-time choice rejects
// unknown and unsupported names with the documented messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "attnflow/attention_field.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/simd.hpp"
#include "attnflow/simd_dispatch.hpp"
#include "attnflow/vector_exp.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

constexpr SimdWidth kAllWidths[] = {SimdWidth::avx512, SimdWidth::avx2, SimdWidth::sse2};

/// Restores the width that was active when it was made.
struct WidthGuard {
  SimdWidth saved = active_simd_width();
  ~WidthGuard() { set_simd_width(saved); }
};

std::vector<SimdWidth> supported_widths() {
  std::vector<SimdWidth> out;
  for (SimdWidth w : kAllWidths)
    if (simd_width_supported(w)) out.push_back(w);
  return out;
}

/// The supported widths whose multiply-adds are fused (all but SSE2).
std::vector<SimdWidth> fused_widths() {
  std::vector<SimdWidth> out;
  for (SimdWidth w : supported_widths())
    if (w != SimdWidth::sse2) out.push_back(w);
  return out;
}

/// Field and projected velocity of `model` at x, at the active width.
std::pair<Matrix, Matrix> field_and_velocity(const Model& model, const Matrix& x,
                                             const std::vector<double>& w,
                                             const std::vector<double>& pos) {
  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  Matrix v = Matrix::Zero(x.rows(), x.cols());
  Dynamics dyn(AttentionField(model, w, pos));
  dyn.velocity(0.0, x, v);
  return {out, v};
}

void expect_same_bits(const Matrix& a, const Matrix& b) {
  ASSERT_EQ(a.rows(), b.rows());
  ASSERT_EQ(a.cols(), b.cols());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(double)),
            0);
}

/// Runs every kernel × mask × precision of `make_model` at each width with FMA and compares with
/// the first (widest) bitwise.
template <class MakeModel>
void check_widths_agree(Index n, Index d, MakeModel make_model) {
  const std::vector<SimdWidth> widths = fused_widths();
  if (widths.size() < 2) GTEST_SKIP() << "this CPU supports fewer than two widths with FMA";
  WidthGuard guard;
  for (const KernelInfo& info : kKernels)
    for (bool causal : {false, true})
      for (Precision precision : {Precision::float64, Precision::float32}) {
        if (info.kind == KernelKind::sinkhorn && precision == Precision::float32) continue;
        SCOPED_TRACE(std::string(info.name) + (causal ? " causal" : " full") +
                     (precision == Precision::float32 ? " float32" : " float64"));
        Rng rng(71);
        const Matrix x = sphere_points(n, d, rng);
        const std::vector<double> w = random_weights(n, rng);
        const std::vector<double> pos = shuffled_tied_positions(n, rng);
        Model model = make_model(info.kind, rng);
        model.causal = causal;
        model.precision = precision;
        std::vector<std::pair<Matrix, Matrix>> results;
        for (SimdWidth width : widths) {
          set_simd_width(width);
          results.push_back(field_and_velocity(model, x, w, pos));
        }
        for (std::size_t k = 1; k < results.size(); ++k) {
          SCOPED_TRACE(std::string(simd_width_name(widths[k])) + " against " +
                       std::string(simd_width_name(widths[0])));
          expect_same_bits(results[k].first, results[0].first);
          expect_same_bits(results[k].second, results[0].second);
        }
      }
}

// Three heads with k ∈ {2, 7, 5}, dv ∈ {4, 1, 8}; N = 1101 leaves a partial last query block,
// whose 77 (float: 13) queries end in a group of one, partial key blocks and vectors, and the
// float lanes flush at 512 and 1024 keys.
TEST(SimdWidths, BitwiseIdenticalForSmallHeads) {
  check_widths_agree(1101, 6, [](KernelKind kind, Rng& rng) {
    return multi_head(6, 1.0, kind, rng, Geometry::sphere);
  });
}

// k = dv = 64: the long score and value loops, every chunk count and value-component block;
// N = 301 again ends in a group of one query.
TEST(SimdWidths, BitwiseIdenticalForWideHeads) {
  check_widths_agree(301, 64, [](KernelKind kind, Rng&) {
    return identity_heads(64, 4.0, kind, Geometry::sphere);
  });
}

// The exponentials of the widths with FMA agree bitwise (fused operations are correctly
// rounded), including clamped and special arguments; SSE2's unfused polynomial agrees with them
// within the sum of their error bounds.
TEST(SimdWidths, ExponentialsAgreeAcrossWidths) {
  Rng rng(5);
  std::vector<double> xd(4099);
  std::vector<float> xf(4099);
  for (std::size_t i = 0; i < xd.size(); ++i) {
    xd[i] = -720.0 + 1440.0 * rng.uniform();
    xf[i] = static_cast<float>(-90.0 + 180.0 * rng.uniform());
  }
  xd[0] = -std::numeric_limits<double>::infinity();
  xd[1] = std::numeric_limits<double>::quiet_NaN();
  xd[2] = -0.0;
  std::vector<double> yd_ref(xd.size()), yd(xd.size());
  std::vector<float> yf_ref(xf.size()), yf(xf.size());
  const std::vector<SimdWidth> widths = supported_widths();
  exp_at_width(widths[0], xd, yd_ref);
  exp_at_width(widths[0], xf, yf_ref);
  for (SimdWidth width : widths) {
    SCOPED_TRACE(std::string(simd_width_name(width)));
    exp_at_width(width, xd, yd);
    exp_at_width(width, xf, yf);
    if (width != SimdWidth::sse2) {
      EXPECT_EQ(std::memcmp(yd.data(), yd_ref.data(), yd.size() * sizeof(double)), 0);
      EXPECT_EQ(std::memcmp(yf.data(), yf_ref.data(), yf.size() * sizeof(float)), 0);
    } else {
      for (std::size_t i = 0; i < xd.size(); ++i) {
        if (std::isnan(yd_ref[i])) {
          EXPECT_TRUE(std::isnan(yd[i]));
          continue;
        }
        // Equal (0, ∞ at the clamps), or both within 2 ulp of e^x (test_fast_exp.cpp's bound at
        // every width), so within 4 ulp ≤ 4 eps |e^x| of each other (|ref| ≥ |e^x| (1 − 2 eps)).
        EXPECT_TRUE(yd[i] == yd_ref[i] ||
                    std::fabs(yd[i] - yd_ref[i]) <=
                        4.0 * std::fabs(yd_ref[i]) * std::numeric_limits<double>::epsilon())
            << xd[i] << ": " << yd[i] << " vs " << yd_ref[i];
        EXPECT_TRUE(yf[i] == yf_ref[i] ||
                    std::fabs(yf[i] - yf_ref[i]) <=
                        4.0f * std::fabs(yf_ref[i]) * std::numeric_limits<float>::epsilon())
            << xf[i] << ": " << yf[i] << " vs " << yf_ref[i];
      }
    }
  }
}

TEST(SimdWidths, NamesParseAndUnknownNamesAreRejected) {
  EXPECT_EQ(simd_width_name(SimdWidth::avx512), "avx512");
  EXPECT_EQ(simd_width_name(SimdWidth::avx2), "avx2");
  EXPECT_EQ(simd_width_name(SimdWidth::sse2), "sse2");
  for (SimdWidth w : kAllWidths) {
    if (simd_width_supported(w)) {
      EXPECT_EQ(parse_simd_width(simd_width_name(w), "simd"), w);
    }
  }
  EXPECT_TRUE(simd_width_supported(SimdWidth::sse2));
  try {
    parse_simd_width("avx1024", "ATTNFLOW_SIMD");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "ATTNFLOW_SIMD: unknown vector width 'avx1024'; allowed: avx512, avx2, sse2");
  }
  for (SimdWidth w : kAllWidths) {
    if (simd_width_supported(w)) continue;
    try {
      set_simd_width(w, "simd");
      FAIL() << "no error";
    } catch (const InputError& e) {
      const std::string message(e.what());
      EXPECT_EQ(message.rfind("simd: this CPU does not support " + std::string(simd_width_name(w)) +
                                  "; allowed on this CPU: ",
                              0),
                0u)
          << message;
      EXPECT_NE(message.find("sse2"), std::string::npos) << message;
    }
  }
}

}  // namespace
