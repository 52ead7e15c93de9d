// The streaming engine (AttentionField::evaluate and dispatch attend()) against the independent
// dense O(N²) reference of tests/dense_reference.hpp, for every registered kernel.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "attnflow/attention_field.hpp"
#include "attnflow/dispatch.hpp"
#include "attnflow/error.hpp"
#include "attnflow/head_tables.hpp"
#include "attnflow/kernel_registry.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

/// The engine's per-pass kernel settings for a model over n tokens (the sigmoid bias resolved by
/// its documented default −log N, independently of AttentionField).
KernelSettings settings(const Model& model, Index n) {
  return KernelSettings{model.kernel, model.causal, model.beta, dense::sigmoid_bias(model, n)};
}

/// Runs each head through fill_queries / fill_keys / attend() and compares values and log Z with
/// the dense head result. For sinkhorn, attend() is the final row normalisation with the column
/// potentials folded into the key log-masses (dispatch.hpp): the dense potentials are folded in.
void check_heads_through_attend(const Model& model, const Matrix& x, const std::vector<double>& w,
                                const std::vector<double>& pos, const dense::FieldResult& ref,
                                double rel) {
  const Index n = x.rows();
  QueryTable queries;
  KeyTable keys;
  for (std::size_t h = 0; h < model.heads.size(); ++h) {
    SCOPED_TRACE("head " + std::to_string(h));
    const Head& head = model.heads[h];
    const Index dv = head.V.rows();
    const dense::HeadResult& r = ref.heads[h];
    fill_queries(head.Q, x, pos, queries);
    fill_keys(head.K, &head.V, x, w, pos, keys);
    if (model.kernel == KernelKind::sinkhorn)
      for (Index j = 0; j < n; ++j) keys.log_weight[j] += r.g[j];
    Matrix y(n, dv);
    std::vector<double> log_z(static_cast<std::size_t>(n));
    attend(settings(model, n), queries, keys, AttentionOutput{y.data(), log_z.data()});
    EXPECT_TRUE(within_scaled(y, r.y, r.y_abs, rel));
    // log Z = m + log l: absolute error ≤ |δs| + relative error of l (both inside rel) plus the
    // rounding of the final addition, u |log Z|.
    for (Index i = 0; i < n; ++i) {
      if (std::isinf(r.log_z[i])) {
        EXPECT_EQ(log_z[i], r.log_z[i]) << "query " << i;
      } else {
        EXPECT_NEAR(log_z[i], r.log_z[i], rel + 2.0 * kU * std::fabs(r.log_z[i])) << "query " << i;
      }
    }
  }
}

using DenseCase = std::tuple<std::size_t, bool, bool, bool, int, int>;

class EngineVsDense : public ::testing::TestWithParam<DenseCase> {};

TEST_P(EngineVsDense, FieldAndHeadsMatchDenseReference) {
  const auto [kernel_index, causal, multihead, random_w, n_int, d_int] = GetParam();
  const KernelInfo& info = kKernels[kernel_index];
  const Index n = n_int, d = d_int;
  Rng rng(1000u + 97u * static_cast<std::uint64_t>(n) + static_cast<std::uint64_t>(d) +
          (causal ? 7u : 0u) + (multihead ? 13u : 0u) + (random_w ? 29u : 0u));
  const Matrix x = radial_points(n, d, rng);
  const std::vector<double> w = random_w ? random_weights(n, rng) : uniform_weights(n);
  const std::vector<double> pos = causal ? shuffled_tied_positions(n, rng) : index_positions(n);
  Model model = multihead ? multi_head(d, 1.0, info.kind, rng) : identity_heads(d, 2.0, info.kind);
  model.causal = causal;
  if (info.kind == KernelKind::sinkhorn && causal) {
    // A causal plan has no doubly stochastic scaling: the model is rejected, not evaluated.
    EXPECT_THROW(validate_model(model, d), InputError);
    return;
  }
  EXPECT_NO_THROW(validate_model(model, d));

  const dense::FieldResult ref = dense::field(model, x, w, pos);
  const double rel = engine_bound(model, ref, w, n, d);
  expect_well_posed(model, ref, rel);
  ASSERT_GT(ref.v.cwiseAbs().maxCoeff(), 1e-6);  // the comparison is not between zeros

  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, rel));
  if (info.kind == KernelKind::sigmoid) {
    EXPECT_EQ(field.sigmoid_bias(), -std::log(static_cast<double>(n)));  // documented default
  }
  if (info.kind == KernelKind::sinkhorn) {
    EXPECT_LT(field.last_sinkhorn().iterations, model.sinkhorn_iters);  // converged, not capped
    EXPECT_LE(field.last_sinkhorn().marginal_error, model.sinkhorn_tol);
  }

  // Buffers are reused: a second evaluation must reproduce the first bitwise.
  Matrix again;
  field.evaluate(x, again);
  EXPECT_TRUE(out == again);

  check_heads_through_attend(model, x, w, pos, ref, rel);
}

std::string dense_case_name(const ::testing::TestParamInfo<DenseCase>& p) {
  const auto [k, causal, multihead, random_w, n, d] = p.param;
  return std::string(kKernels[k].name) + (causal ? "_causal" : "_full") +
         (multihead ? "_3heads" : "_identity") + (random_w ? "_randomw" : "_uniformw") + "_N" +
         std::to_string(n) + "_d" + std::to_string(d);
}

INSTANTIATE_TEST_SUITE_P(AllKernels, EngineVsDense,
                         ::testing::Combine(::testing::Range<std::size_t>(0, kKernels.size()),
                                            ::testing::Bool(), ::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(1, 7, 300), ::testing::Values(3, 16)),
                         dense_case_name);

// Causal attention with sorted (and reversed) positions over several key blocks: whole key blocks
// are skipped for early query blocks, which the shuffled positions above almost never allow.
TEST(EngineCausal, SortedAndReversedPositionsAcrossKeyBlocks) {
  const Index n = 600, d = 3;  // ≥ 3 key blocks (key_block_size(k, dv) ≤ 256 keys each)
  for (const KernelInfo& info : kKernels) {
    if (info.kind == KernelKind::sinkhorn) continue;  // cannot be masked (EngineVsDense checks)
    for (bool reversed : {false, true}) {
      SCOPED_TRACE(std::string(info.name) + (reversed ? " reversed" : " sorted"));
      Rng rng(77);
      const Matrix x = radial_points(n, d, rng);
      const std::vector<double> w = random_weights(n, rng);
      std::vector<double> pos = index_positions(n);
      if (reversed) std::reverse(pos.begin(), pos.end());
      Model model = multi_head(d, 1.0, info.kind, rng);
      model.causal = true;
      const dense::FieldResult ref = dense::field(model, x, w, pos);
      const double rel = engine_bound(model, ref, w, n, d);
      expect_well_posed(model, ref, rel);
      AttentionField field(model, w, pos);
      Matrix out;
      field.evaluate(x, out);
      EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, rel));
    }
  }
}

// normalization.hpp: a query that sees no key with positive mass gets 0 and log Z = −∞; a
// massless key contributes nothing (removing it changes no other output). Sigmoid gets an explicit
// bias here: its default −log N would change with the number of listed tokens.
TEST(EngineMasks, MasslessKeysAreAbsentAndBlindQueriesGetZero) {
  const Index n = 40, d = 4;
  for (const KernelInfo& info : kKernels) {
    SCOPED_TRACE(info.name);
    Rng rng(5);
    const Matrix x = radial_points(n, d, rng);
    std::vector<double> w = random_weights(n, rng);
    w[0] = 0.0;  // token 0 (position 0) sees only itself, and it is massless
    Model model = multi_head(d, 1.0, info.kind, rng);
    model.sigmoid_bias = -1.3;
    model.causal = info.kind != KernelKind::sinkhorn;  // sinkhorn cannot be masked
    const std::vector<double> pos = index_positions(n);
    AttentionField field(model, w, pos);
    Matrix out;
    field.evaluate(x, out);
    if (model.causal) {
      for (Index c = 0; c < d; ++c) EXPECT_EQ(out(0, c), 0.0);
      QueryTable q;
      KeyTable k;
      fill_queries(model.heads[0].Q, x, pos, q);
      fill_keys(model.heads[0].K, nullptr, x, w, pos, k);
      std::vector<double> log_z(static_cast<std::size_t>(n));
      attend(settings(model, n), q, k, AttentionOutput{nullptr, log_z.data()});
      EXPECT_EQ(log_z[0], -kInf);
      EXPECT_TRUE(std::isfinite(log_z[2]));
    }

    // Drop the massless tokens (0 and every j ≡ 1 mod 4): the others' outputs do not change.
    std::vector<Index> keep;
    for (Index i = 0; i < n; ++i)
      if (w[i] > 0.0) keep.push_back(i);
    const auto m = static_cast<Index>(keep.size());
    Matrix xs(m, d);
    std::vector<double> ws, ps;
    for (Index r = 0; r < m; ++r) {
      xs.row(r) = x.row(keep[r]);
      ws.push_back(w[keep[r]]);
      ps.push_back(pos[keep[r]]);
    }
    AttentionField reduced(model, ws, ps);
    Matrix out_reduced;
    reduced.evaluate(xs, out_reduced);
    const dense::FieldResult ref = dense::field(model, xs, ws, ps);
    Matrix kept(m, d);
    for (Index r = 0; r < m; ++r) kept.row(r) = out.row(keep[r]);
    // Both are within the engine bound of the same exact value.
    const double rel = engine_bound(model, ref, ws, m, d);
    expect_well_posed(model, ref, rel);
    EXPECT_TRUE(within_scaled(kept, out_reduced, ref.v_abs, 2.0 * rel));
  }
}

// Scores as large as β = 10⁴ on the sphere with Q = K = I: e^{s} overflows float64 (e^{709.8} is
// the largest finite value), so only a max-shifted evaluation is finite. Tokens form tight
// clusters (1 − ⟨x_i, x_j⟩ ~ 10⁻⁴ inside one) so that β(1 − ⟨x_i,x_j⟩) = O(1) and the softmax
// really mixes several tokens instead of returning x_i.
TEST(EngineLargeBeta, SoftmaxAtBeta1e4IsFiniteAndMatchesMaxShiftedReference) {
  const double beta = 1e4;
  ASSERT_TRUE(std::isinf(std::exp(beta)));  // the naive formula would give ∞/∞
  const Index n = 300, d = 3;
  Rng rng(11);
  const Matrix centres = sphere_points(6, d, rng);
  Matrix x(n, d);
  for (Index i = 0; i < n; ++i) {
    x.row(i) = centres.row(i % 6) + 0.01 * gaussian_matrix(1, d, rng);
    x.row(i) /= x.row(i).norm();
  }
  const std::vector<double> w = random_weights(n, rng);
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    const std::vector<double> pos = causal ? shuffled_tied_positions(n, rng) : index_positions(n);
    Model model = identity_heads(d, beta, KernelKind::softmax);
    model.causal = causal;
    AttentionField field(model, w, pos);
    Matrix out;
    field.evaluate(x, out);
    ASSERT_TRUE(out.allFinite());
    const dense::FieldResult ref = dense::field(model, x, w, pos);
    const double rel = engine_bound(model, ref, w, n, d);
    EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, rel));
    // Non-trivial mixing: some outputs are far from their own token.
    double max_move = 0.0;
    for (Index i = 0; i < n; ++i)
      if (w[i] > 0.0) max_move = std::max(max_move, (ref.v.row(i) - x.row(i)).norm());
    EXPECT_GT(max_move, 1e-3);
    check_heads_through_attend(model, x, w, pos, ref, rel);
  }
}

// USA at β = 600: outputs ~e^{600} ≈ 10^{260}, still finite in float64; the engine returns
// ±e^{m + log|a|}, the reference exponentiates directly in long double.
TEST(EngineLargeBeta, UnnormalisedAtBeta600MatchesDirectExponentials) {
  const Index n = 50, d = 3;
  Rng rng(12);
  const Matrix x = sphere_points(n, d, rng);
  const std::vector<double> w = random_weights(n, rng);
  const std::vector<double> pos = index_positions(n);
  const Model model = identity_heads(d, 600.0, KernelKind::usa);
  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  ASSERT_TRUE(out.allFinite());
  const dense::FieldResult ref = dense::field(model, x, w, pos);
  EXPECT_GT(ref.v.cwiseAbs().maxCoeff(), 1e250);
  EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, engine_bound(model, ref, w, n, d)));
}

// USA when e^m alone overflows but the output does not (normalization.hpp: the product is then
// formed as ±e^{m + log|a|}): β = 720 > 709.8 with values scaled by 10⁻¹⁰, outputs ~10³⁰².
TEST(EngineLargeBeta, UnnormalisedOutputFiniteWhenOnlyTheShiftOverflows) {
  const Index n = 20, d = 3;
  Rng rng(13);
  const Matrix x = sphere_points(n, d, rng);
  const std::vector<double> w = uniform_weights(n);
  const std::vector<double> pos = index_positions(n);
  Model model = identity_heads(d, 720.0, KernelKind::usa);
  model.heads[0].V *= 1e-10;
  ASSERT_TRUE(std::isinf(std::exp(720.0 + std::log(w[0]))));  // e^m overflows
  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  ASSERT_TRUE(out.allFinite());
  const dense::FieldResult ref = dense::field(model, x, w, pos);
  EXPECT_GT(ref.v.cwiseAbs().maxCoeff(), 1e290);
  EXPECT_TRUE(within_scaled(out, ref.v, ref.v_abs, engine_bound(model, ref, w, n, d)));
}

// The registry's `normalized` flag against behaviour: with values u_j ≡ 1 (V = e_dᵀ on tokens
// whose last coordinate is 1) a normalised kernel returns Σ_j a_ij = 1 and any other returns its
// partition function Z_i = e^{log Z_i} (dense reference).
TEST(EngineRegistry, NormalizedFlagMatchesRowSums) {
  const Index n = 33, d = 4;
  Rng rng(3);
  Matrix x = radial_points(n, d, rng);
  x.col(d - 1).setOnes();
  const std::vector<double> w = random_weights(n, rng);
  const std::vector<double> pos = index_positions(n);
  Matrix v = Matrix::Zero(1, d);
  v(0, d - 1) = 1.0;
  for (const KernelInfo& info : kKernels) {
    SCOPED_TRACE(info.name);
    EXPECT_EQ(&kernel_info(info.kind), &info);
    EXPECT_EQ(kernel_from_name(info.name, "model.kernel"), info.kind);
    QueryTable q;
    KeyTable k;
    fill_queries(Matrix::Identity(d, d), x, pos, q);
    fill_keys(Matrix::Identity(d, d), &v, x, w, pos, k);
    Model model = identity_heads(d, 0.7, info.kind);
    model.heads[0].V = v;
    std::vector<double> y(static_cast<std::size_t>(n));
    // (For sinkhorn, attend() alone is the row normalisation of the current potentials.)
    attend(settings(model, n), q, k, AttentionOutput{y.data(), nullptr});
    const dense::HeadResult ref = dense::head(model, model.heads[0], x, w, pos);
    for (Index i = 0; i < n; ++i) {
      // Σ_j a_ij accumulates N/8 + 8 terms and is divided by the same sum: ≤ (2(N/8+8)+2) u = 26 u
      // here; USA adds the rounding of e^{m + log|a|} (a few u for |m| ≤ 0.7·1.5², |log a| ≲ 2);
      // doubled for the first-order approximation → 64 u.
      const double expected = info.normalized ? 1.0 : std::exp(ref.log_z[i]);
      EXPECT_NEAR(y[i], expected, 64.0 * kU * expected) << "query " << i;
    }
  }
}

// The dense reference itself, on cases solved by hand: two unit tokens x_1 = (1, 0), x_2 = (c, s)
// with masses (w_1, w_2), Q = K = V = I. Query 1 has s_11 = β, s_12 = βc (dot kernels) or
// s_11 = 0, s_12 = −β|x_1 − x_2|² = −2β(1 − c) (L2), and
//   softmax / l2: v_1 = (p_1 x_1 + p_2 x_2)/(p_1 + p_2), p_j = w_j e^{s_1j};  usa: p_1 x_1 + p_2
//   x_2; sigmoid: p_j = w_j e^{−b} σ(s_1j + b) = w_j / (e^b + e^{−s_1j}), v_1 = p_1 x_1 + p_2 x_2;
//   hardmax: s_11 > s_12, so v_1 = x_1;
//   sinkhorn with w = (½, ½): a symmetric positive 2×2 kernel [[A, B], [B, A]] has the doubly
//   stochastic scaling [[A, B], [B, A]]/(A + B) (uniform scalings), so v_1 = softmax's v_1.
// Q = K = V = I is projected by copying (head_tables.cpp); a matrix that differs from I by 1e-300
// off the diagonal takes the product path and must give the same tables bitwise (x + 1e-300 y
// rounds to x), so a transposed or shifted copy would be caught.
TEST(EngineTables, IdentityProjectionMatchesProductPath) {
  const Index n = 37, d = 5;
  Rng rng(4242u);
  const Matrix x = radial_points(n, d, rng);
  const std::vector<double> w = random_weights(n, rng);
  const std::vector<double> pos = index_positions(n);
  Matrix near = Matrix::Identity(d, d);
  near(0, d - 1) = 1e-300;
  near(d - 1, 0) = 1e-300;
  QueryTable q_fast, q_slow;
  KeyTable k_fast, k_slow;
  const Matrix identity = Matrix::Identity(d, d);
  fill_queries(identity, x, pos, q_fast);
  fill_queries(near, x, pos, q_slow);
  fill_keys(identity, &identity, x, w, pos, k_fast);
  fill_keys(near, &near, x, w, pos, k_slow);
  for (Index i = 0; i < n; ++i)
    for (Index a = 0; a < d; ++a) {
      EXPECT_EQ(q_fast.queries[static_cast<std::size_t>(i * d + a)], x(i, a));
      EXPECT_EQ(q_slow.queries[static_cast<std::size_t>(i * d + a)], x(i, a));
      EXPECT_EQ(k_fast.key_at(a, i), x(i, a));
      EXPECT_EQ(k_slow.key_at(a, i), x(i, a));
      EXPECT_EQ(k_fast.value_at(a, i), x(i, a));
      EXPECT_EQ(k_slow.value_at(a, i), x(i, a));
    }
}

TEST(DenseReference, TwoTokenClosedForms) {
  const double beta = 1.3, c = 0.6, s = 0.8, bias = -0.4;
  Matrix x(2, 2);
  x << 1.0, 0.0, c, s;
  const std::vector<double> pos = {0.0, 1.0};
  for (const KernelInfo& info : kKernels) {
    SCOPED_TRACE(info.name);
    const std::vector<double> w = info.kind == KernelKind::sinkhorn
                                      ? std::vector<double>{0.5, 0.5}
                                      : std::vector<double>{0.25, 0.75};
    Model model = identity_heads(2, beta, info.kind);
    model.sigmoid_bias = bias;
    double p1 = 0, p2 = 0;
    bool normalise = info.normalized;
    switch (info.kind) {
      case KernelKind::softmax:
      case KernelKind::usa:
      case KernelKind::sinkhorn:
        p1 = w[0] * std::exp(beta);
        p2 = w[1] * std::exp(beta * c);
        break;
      case KernelKind::l2:
        p1 = w[0];
        p2 = w[1] * std::exp(-2.0 * beta * (1.0 - c));
        break;
      case KernelKind::sigmoid:
        p1 = w[0] / (std::exp(bias) + std::exp(-beta));
        p2 = w[1] / (std::exp(bias) + std::exp(-beta * c));
        break;
      case KernelKind::hardmax:
        p1 = 1.0;
        p2 = 0.0;
        break;
    }
    const double norm = normalise ? p1 + p2 : 1.0;
    const dense::FieldResult ref = dense::field(model, x, w, pos);
    EXPECT_NEAR(ref.v(0, 0), (p1 + p2 * c) / norm, 1e-15);
    EXPECT_NEAR(ref.v(0, 1), p2 * s / norm, 1e-15);
  }
}

// A kernel the reference does not implement must fail loudly, not return zeros.
TEST(DenseReference, UnknownKernelThrows) {
  Model model = identity_heads(2, 1.0, KernelKind::softmax);
  model.kernel = static_cast<KernelKind>(99);
  const Matrix x = Matrix::Identity(2, 2);
  EXPECT_THROW(dense::head(model, model.heads[0], x, {0.5, 0.5}, {0.0, 1.0}), std::logic_error);
}

}  // namespace
