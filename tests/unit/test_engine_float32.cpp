// The float32 engine (model.precision = "float32"): against the independent dense reference of
// tests/dense_reference.hpp (long double) within an error bound derived from float32's unit
// round-off and the problem, bitwise determinism across thread counts, and its exponential
// (simd::exp on float lanes, at every supported vector width) against the correctly rounded e^x.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "attnflow/attention_field.hpp"
#include "attnflow/dispatch.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/head_tables.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/simd.hpp"
#include "attnflow/simd_dispatch.hpp"
#include "attnflow/stream_attention.hpp"
#include "attnflow/vector_exp.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

/// Unit round-off of float32: |fl(a ∘ b) − a ∘ b| ≤ u32 |a ∘ b|, u32 = 2⁻²⁴ = eps32 / 2.
constexpr double kU32 = std::numeric_limits<float>::epsilon() / 2.0;

/// First-order forward-error bound of the float32 engine relative to each output entry's
/// conditioning scale (dense::FieldResult::v_abs), in the standard model with float operations
/// rounded to u32 and double ones to u (the float64 terms are engine_bound's, added at the end):
///  (1) q = Qx, k = Kx, u = Vx formed in double and rounded once to float: relative u32 each, so
///      |δs| gets 2 u32 S from the rounded q and k (S = max_score_scale ≥ |s|);
///  (2) s = β⟨q, k⟩ in float (k products, k − 1 sums, β rounded to float, × β), or −β‖q − k‖²
///      (k differences, k squares, k − 1 sums, × β): |δs| ≤ (k + 4) u32 S; with (1):
///      |δs| ≤ (k + 6) u32 S;
///  (3) s + log w_j (log w rounded to float, then the float addition): 2 u32 (S + L),
///      L = max |log w_j| (+ |b| for sigmoid, whose e^b is rounded to float: + u32);
///  (4) p = e^{s − m}, m the maximum of the computed s (exact in float): the float subtraction
///      adds u32·|s − m| ≤ 2 u32 (S + L); the errors of s and m enter twice; the float
///      exponential is within 2 float ulp ≤ 4 u32 (test below);
///  (5) Σ_j p_ij u_j: the product (u32) and the float lane sums of kFlushKeys / 16 terms
///      (γ_{kFlushKeys/16}), then double sums (engine_bound's terms);
///  (6) softmax: the normaliser carries the same float sum error; the division is in double.
/// So |δ out| ≤ 2 u32 [2(k + 6) S + 2(S + L) + 2(S + L) + 4 + 2(kFlushKeys/16 + 1) + 2] · scale,
/// doubled to cover the first-order γ approximation, plus the float64 bound. For S ~ β|q||k| and
/// L = log N this is the c · eps32 · (β|q||k| + log N) of the float32 option's contract.
double float32_bound(const Model& model, const dense::FieldResult& ref,
                     const std::vector<double>& w, Index n, Index d) {
  Index k = 0;
  for (const Head& h : model.heads) k = std::max(k, h.Q.rows());
  const double S = ref.max_score_scale;
  const double L = std::max(max_abs_log_weight(w), ref.max_abs_log_weight);
  const double flush_terms = static_cast<double>(Accumulation<float>::kFlushKeys / kLanesOf<float>);
  const double terms = 2.0 * static_cast<double>(k + 6) * S  // (1), (2), twice in (4)
                       + 2.0 * (S + L)                       // (3)
                       + 2.0 * (S + L) + 4.0                 // (4)
                       + 2.0 * (flush_terms + 1.0)           // (5), (6)
                       + 2.0;                                // value rounding (1)
  return 2.0 * 2.0 * kU32 * terms + engine_bound(model, ref, w, n, d);
}

Model with_precision(Model model, Precision precision) {
  model.precision = precision;
  return model;
}

using Float32Case = std::tuple<KernelKind, bool, bool, bool, int, int>;

/// Compares a float32 field (and each head's log Z through the float tables) with the dense
/// reference within float32_bound.
void check_against_dense(const Model& model, const Matrix& x, const std::vector<double>& w,
                         const std::vector<double>& pos) {
  const Index n = x.rows(), d = x.cols();
  ASSERT_EQ(model.precision, Precision::float32);
  EXPECT_NO_THROW(validate_model(model, d));
  const dense::FieldResult ref = dense::field(model, x, w, pos);
  const double rel = float32_bound(model, ref, w, n, d);
  if (model.kernel == KernelKind::hardmax) {
    // Discontinuous: meaningful only if no row's top two scores are within their float32
    // rounding, |δs| ≤ (k + 6) u32 S ((1)–(2) of float32_bound; hardmax compares raw scores),
    // with a margin of 10 on both scores' errors.
    Index k = 0;
    for (const Head& h : model.heads) k = std::max(k, h.Q.rows());
    ASSERT_GT(ref.min_argmax_gap,
              10.0 * 2.0 * static_cast<double>(k + 6) * kU32 * ref.max_score_scale);
  }
  ASSERT_GT(ref.v.cwiseAbs().maxCoeff(), 1e-6);

  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, rel));
  // The option is honoured: the float32 result is not the float64 one (hardmax outputs are sums
  // of masses times values, formed in double, and may coincide).
  AttentionField field64(with_precision(model, Precision::float64), w, pos);
  Matrix out64;
  field64.evaluate(x, out64);
  if (model.kernel != KernelKind::hardmax && n > 1) {
    EXPECT_FALSE(out == out64);
  }
  // Buffers are reused: a second evaluation reproduces the first bitwise.
  Matrix again;
  field.evaluate(x, again);
  EXPECT_TRUE(out == again);

  // log Z of every head through the float tables: absolute error ≤ |δs| + relative error of l.
  QueryTable32 queries;
  KeyTable32 keys;
  for (std::size_t h = 0; h < model.heads.size(); ++h) {
    SCOPED_TRACE("head " + std::to_string(h));
    const Head& head = model.heads[h];
    fill_queries(head.Q, x, pos, queries);
    fill_keys(head.K, &head.V, x, w, pos, keys);
    std::vector<double> log_z(static_cast<std::size_t>(n));
    const KernelSettings settings{model.kernel, model.causal, model.beta,
                                  dense::sigmoid_bias(model, n)};
    attend(settings, queries, keys, AttentionOutput{nullptr, log_z.data()});
    for (Index i = 0; i < n; ++i) {
      const double expected = ref.heads[h].log_z[static_cast<std::size_t>(i)];
      if (std::isinf(expected)) {
        EXPECT_EQ(log_z[i], expected) << "query " << i;
      } else {
        EXPECT_NEAR(log_z[i], expected, rel + 2.0 * kU32 * std::fabs(expected)) << "query " << i;
      }
    }
  }
}

/// Tokens, masses, positions and model of one case (inputs only).
struct Inputs {
  Matrix x;
  std::vector<double> w, pos;
  Model model;
};

Inputs make_inputs(KernelKind kind, bool causal, bool multihead, bool random_w, Index n, Index d) {
  Rng rng(5000u + 97u * static_cast<std::uint64_t>(n) + static_cast<std::uint64_t>(d) +
          (causal ? 7u : 0u) + (multihead ? 13u : 0u) + (random_w ? 29u : 0u));
  Inputs in;
  in.x = radial_points(n, d, rng);
  in.w = random_w ? random_weights(n, rng) : uniform_weights(n);
  in.pos = causal ? shuffled_tied_positions(n, rng) : index_positions(n);
  in.model = multihead ? multi_head(d, 1.0, kind, rng) : identity_heads(d, 2.0, kind);
  in.model.causal = causal;
  in.model.precision = Precision::float32;
  return in;
}

class Float32VsDense : public ::testing::TestWithParam<Float32Case> {};

// The exponential kernels and sigmoid, full and causal, one identity head and three random heads
// of different k, dv, uniform and random masses (a quarter massless), N across the float flush
// length (512 keys) and key blocks.
TEST_P(Float32VsDense, FieldMatchesDenseReferenceWithinFloat32Bound) {
  const auto [kind, causal, multihead, random_w, n, d] = GetParam();
  const Inputs in = make_inputs(kind, causal, multihead, random_w, n, d);
  check_against_dense(in.model, in.x, in.w, in.pos);
}

std::string float32_case_name(const ::testing::TestParamInfo<Float32Case>& p) {
  const auto [kind, causal, multihead, random_w, n, d] = p.param;
  return std::string(kernel_info(kind).name) + (causal ? "_causal" : "_full") +
         (multihead ? "_3heads" : "_identity") + (random_w ? "_randomw" : "_uniformw") + "_N" +
         std::to_string(n) + "_d" + std::to_string(d);
}

INSTANTIATE_TEST_SUITE_P(Kernels, Float32VsDense,
                         ::testing::Combine(::testing::Values(KernelKind::softmax, KernelKind::usa,
                                                              KernelKind::l2, KernelKind::sigmoid),
                                            ::testing::Bool(), ::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(7, 300, 600),
                                            ::testing::Values(3, 16)),
                         float32_case_name);

// Hardmax in float32 on inputs whose argmax is well separated (few tokens: random scores of many
// tokens have top-two gaps below float32's resolution, where hardmax is ill-posed in any
// precision), full and causal, identity and multi-head.
TEST(Float32Hardmax, MatchesDenseReferenceWhenWellPosed) {
  for (bool causal : {false, true})
    for (bool multihead : {false, true}) {
      SCOPED_TRACE(std::string(causal ? "causal" : "full") + (multihead ? " 3 heads" : ""));
      const Inputs in = make_inputs(KernelKind::hardmax, causal, multihead, true, 7, 3);
      check_against_dense(in.model, in.x, in.w, in.pos);
    }
}

// Sinkhorn's potentials are iterated in float64 to model.sinkhorn_tol: float32 is rejected with a
// message naming the key.
TEST(Float32Sinkhorn, IsRejected) {
  Model model = identity_heads(3, 1.0, KernelKind::sinkhorn);
  model.precision = Precision::float32;
  try {
    validate_model(model, 3);
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "model.precision: 'float32' is not available with the sinkhorn kernel (its "
              "potentials are iterated to model.sinkhorn_tol in float64); use float64");
  }
}

// Larger scores: softmax and USA at β = 30 on unit tokens (scores up to 30, L = log N): the bound
// grows with S as derived, and the result stays within it.
TEST(Float32LargeBeta, SoftmaxAndUsaAtBeta30) {
  const Index n = 700, d = 5;
  Rng rng(77);
  const Matrix x = sphere_points(n, d, rng);
  const std::vector<double> w = uniform_weights(n);
  const std::vector<double> pos = index_positions(n);
  for (KernelKind kind : {KernelKind::softmax, KernelKind::usa}) {
    SCOPED_TRACE(kernel_info(kind).name);
    Model model = identity_heads(d, 30.0, kind);
    model.precision = Precision::float32;
    const dense::FieldResult ref = dense::field(model, x, w, pos);
    AttentionField field(model, w, pos);
    Matrix out;
    field.evaluate(x, out);
    ASSERT_TRUE(out.allFinite());
    EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, float32_bound(model, ref, w, n, d)));
  }
}

// Threads only decide which query blocks they own: float32 outputs (field and projected
// velocity) are bitwise the same for 1, 2 and 3 threads (N = 1200: 19 query blocks, 3 threads do
// not divide them; the float lanes are flushed at 512 and 1024 keys).
TEST(Float32Determinism, BitwiseIdenticalAcrossThreadCounts) {
  const Index n = 1200, d = 6;
  const int saved = omp_get_max_threads();
  for (const KernelInfo& info : kKernels)
    for (bool causal : {false, true}) {
      if (info.kind == KernelKind::sinkhorn) continue;  // float64 only
      SCOPED_TRACE(std::string(info.name) + (causal ? " causal" : " full"));
      Rng rng(62);
      const Matrix x = sphere_points(n, d, rng);
      const std::vector<double> w = random_weights(n, rng);
      const std::vector<double> pos = shuffled_tied_positions(n, rng);
      Model model = multi_head(d, 1.0, info.kind, rng, Geometry::sphere);
      model.causal = causal;
      model.precision = Precision::float32;
      std::vector<Matrix> fields, velocities;
      for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        AttentionField field(model, w, pos);
        Matrix out;
        field.evaluate(x, out);
        fields.push_back(out);
        Matrix v = Matrix::Zero(n, d);
        Dynamics dyn(AttentionField(model, w, pos));
        dyn.velocity(0.0, x, v);
        velocities.push_back(v);
      }
      omp_set_num_threads(saved);
      for (std::size_t t = 1; t < fields.size(); ++t) {
        SCOPED_TRACE("thread count index " + std::to_string(t));
        const auto bytes = static_cast<std::size_t>(n * d) * sizeof(double);
        EXPECT_EQ(std::memcmp(fields[t].data(), fields[0].data(), bytes), 0);
        EXPECT_EQ(std::memcmp(velocities[t].data(), velocities[0].data(), bytes), 0);
      }
    }
  omp_set_num_threads(saved);
}

// Float tables: the float32 key table holds the float64 one rounded entry by entry (same block
// layout rules, 16-key padding), positions unchanged.
TEST(Float32Tables, FloatTablesAreTheRoundedDoubleTables) {
  const Index n = 45, d = 4;
  Rng rng(9);
  const Matrix x = radial_points(n, d, rng);
  const std::vector<double> w = random_weights(n, rng);
  const std::vector<double> pos = shuffled_tied_positions(n, rng);
  const Matrix R = gaussian_matrix(3, d, rng), U = gaussian_matrix(2, d, rng);
  KeyTable k64;
  KeyTable32 k32;
  fill_keys(R, &U, x, w, pos, k64);
  fill_keys(R, &U, x, w, pos, k32);
  EXPECT_EQ(k32.stride, 48);
  EXPECT_EQ(k32.block, key_block_size(3, 2, 4));
  for (Index j = 0; j < n; ++j) {
    for (Index c = 0; c < 3; ++c) EXPECT_EQ(k32.key_at(c, j), static_cast<float>(k64.key_at(c, j)));
    for (Index c = 0; c < 2; ++c)
      EXPECT_EQ(k32.value_at(c, j), static_cast<float>(k64.value_at(c, j)));
    EXPECT_EQ(k32.log_weight[j], static_cast<float>(k64.log_weight[j]));
    EXPECT_EQ(k32.position[j], k64.position[j]);
  }
  for (Index j = n; j < k32.stride; ++j) {
    EXPECT_EQ(k32.log_weight[j], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(k32.weight[j], 0.0f);
  }
}

/// |computed − exact| in units of the last place (float) of the exact value.
double ulp_error_float(float computed, double exact) {
  const float rounded = static_cast<float>(exact);
  const float ulp = std::nextafter(rounded, std::numeric_limits<float>::infinity()) - rounded;
  return std::fabs(static_cast<double>(computed) - exact) / static_cast<double>(ulp);
}

/// Widths this CPU supports (the float exponential is checked at each).
std::vector<SimdWidth> supported_widths() {
  std::vector<SimdWidth> out;
  for (SimdWidth w : {SimdWidth::avx512, SimdWidth::avx2, SimdWidth::sse2})
    if (simd_width_supported(w)) out.push_back(w);
  return out;
}

// simd::exp on float lanes (vector_exp.hpp, at every supported width) against std::exp in double
// (whose error, < 1 double ulp, is 2⁻²⁹ of a float ulp): within 1.5 float ulp over its whole domain
// [−87, 88] by a dense sweep (measured: 1.01 fused, 0.98 unfused), and in particular over [−20, 0],
// where the engine's arguments s − m lie for the weights that matter. The engine's error bound
// (float32_bound above) assumes 2 ulp.
TEST(FloatExp, WithinTwoUlpOverTheWholeDomain) {
  constexpr int kPoints = 4'000'000;
  std::vector<float> x(kPoints), x_engine(1'000'000);
  for (int i = 0; i < kPoints; ++i)
    x[static_cast<std::size_t>(i)] = static_cast<float>(-87.0 + 175.0 * (i + 0.5) / kPoints);
  for (std::size_t i = 0; i < x_engine.size(); ++i)
    x_engine[i] = static_cast<float>(-20.0 * static_cast<double>(i) / 1'000'000.0);
  auto worst_of = [](SimdWidth width, const std::vector<float>& in) {
    std::vector<float> out(in.size());
    exp_at_width(width, in, out);
    double worst = 0.0;
    for (std::size_t i = 0; i < in.size(); ++i)
      worst = std::max(worst, ulp_error_float(out[i], std::exp(static_cast<double>(in[i]))));
    return worst;
  };
  for (SimdWidth width : supported_widths()) {
    const std::string name(simd_width_name(width));
    const double worst = worst_of(width, x), worst_engine_range = worst_of(width, x_engine);
    EXPECT_LE(worst, 1.5) << name;
    EXPECT_LE(worst_engine_range, 1.5) << name;
    RecordProperty("worst_ulp_" + name, std::to_string(worst));
    RecordProperty("worst_ulp_engine_range_" + name, std::to_string(worst_engine_range));
  }
}

TEST(FloatExp, EdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x{0.0f,   -inf,   std::numeric_limits<float>::quiet_NaN(),
                             100.0f, -1.0f,  1.0f,
                             -87.0f, 88.0f,  -87.5f,
                             88.5f,  inf,    -0.0f,
                             1e-8f,  -1e-8f, 0.5f,
                             -0.5f};
  std::vector<float> y(x.size());
  for (SimdWidth width : supported_widths()) {
    SCOPED_TRACE(std::string(simd_width_name(width)));
    exp_at_width(width, x, y);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(y[3], inf);
    EXPECT_LE(ulp_error_float(y[4], std::exp(-1.0)), 2.0);
    EXPECT_LE(ulp_error_float(y[5], std::exp(1.0)), 2.0);
    EXPECT_GT(y[6], 0.0f);
    EXPECT_LE(ulp_error_float(y[6], std::exp(-87.0)), 2.0);
    EXPECT_TRUE(std::isfinite(y[7]));
    EXPECT_LE(ulp_error_float(y[7], std::exp(88.0)), 2.0);
    EXPECT_EQ(y[8], 0.0f);  // below −87: flushed to zero by design
    EXPECT_EQ(y[9], inf);   // above 88: +∞ by design
    EXPECT_EQ(y[10], inf);
    EXPECT_EQ(y[11], 1.0f);
    for (std::size_t l = 12; l < 16; ++l)
      EXPECT_LE(ulp_error_float(y[l], std::exp(static_cast<double>(x[l]))), 2.0) << l;
  }
}

}  // namespace
