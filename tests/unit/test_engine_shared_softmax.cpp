// One softmax shared by all heads (model.head_normalization = "shared"): the streaming field
// against the dense reference (explicit (head, key) scores in long double), for 1 and 3 heads,
// softmax and L2, with and without a causal mask; and the closed form for identical heads.
#include <gtest/gtest.h>

#include "attnflow/attention_field.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

Matrix engine_field(const Model& model, const Matrix& x, const std::vector<double>& w,
                    const std::vector<double>& pos) {
  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  return out;
}

// Scores are O(1) (multi_head scales them), so each output is a convex-like combination of O(1)
// values summed in double: 1e-12 relative to the largest output is ~10⁴ ulps of room.
TEST(SharedSoftmax, MatchesDenseReferenceForOneAndThreeHeads) {
  Rng rng(17);
  const Index n = 13, d = 4;
  for (KernelKind kernel : {KernelKind::softmax, KernelKind::l2})
    for (bool causal : {false, true})
      for (int heads : {1, 3}) {
        SCOPED_TRACE(std::to_string(heads) + " heads, causal " + std::to_string(causal) +
                     (kernel == KernelKind::l2 ? ", l2" : ", softmax"));
        Model m = heads == 1 ? identity_heads(d, 1.3, kernel, Geometry::euclidean)
                             : multi_head(d, 1.3, kernel, rng);
        m.causal = causal;
        m.head_normalization = HeadNormalization::shared;
        const Matrix x = gaussian_matrix(n, d, rng);
        const std::vector<double> w = random_weights(n, rng);
        const std::vector<double> pos = index_positions(n);
        const Matrix ref = dense::shared_softmax_field(m, x, w, pos);
        const Matrix got = engine_field(m, x, w, pos);
        const double scale = std::max(1.0, ref.cwiseAbs().maxCoeff());
        EXPECT_LT((got - ref).cwiseAbs().maxCoeff(), 1e-12 * scale);
        // Shared differs from per-head for several heads (the test can tell them apart).
        Model per_head = m;
        per_head.head_normalization = HeadNormalization::per_head;
        const double gap = (engine_field(per_head, x, w, pos) - ref).cwiseAbs().maxCoeff();
        if (heads == 1)
          EXPECT_LT(gap, 1e-12 * scale);
        else
          EXPECT_GT(gap, 1e-3 * scale);
      }
}

// H identical heads share Z_i = H·Z^h_i, so the shared field is the per-head field divided by H.
TEST(SharedSoftmax, IdenticalHeadsDivideThePerHeadFieldByTheirNumber) {
  Rng rng(2);
  const Index n = 9, d = 3;
  Model m = identity_heads(d, 0.8, KernelKind::softmax, Geometry::euclidean);
  m.heads[0].V = gaussian_matrix(d, d, rng);
  m.heads.push_back(m.heads[0]);
  m.heads.push_back(m.heads[0]);
  const Matrix x = gaussian_matrix(n, d, rng);
  const std::vector<double> w = uniform_weights(n), pos = index_positions(n);
  const Matrix per_head = engine_field(m, x, w, pos);
  m.head_normalization = HeadNormalization::shared;
  const Matrix shared = engine_field(m, x, w, pos);
  EXPECT_LT((3.0 * shared - per_head).cwiseAbs().maxCoeff(),
            1e-13 * std::max(1.0, per_head.cwiseAbs().maxCoeff()));
}

}  // namespace
