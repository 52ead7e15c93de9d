// perturb_weights on time-dependent weights: the perturbation must survive the schedule, which
// overwrites the matrices at every evaluation ([M]'s stability under perturbed weights).
#include <gtest/gtest.h>

#include <memory>

#include "attnflow/analysis/stability.hpp"
#include "attnflow/model.hpp"
#include "attnflow/schedule.hpp"

namespace attnflow {
namespace {

Model sinusoid_k_model(Index d) {
  const Matrix id = Matrix::Identity(d, d);
  Model model;
  model.heads.push_back(Head{id, id, id, Matrix()});
  auto schedule = std::make_shared<ModelSchedule>();
  schedule->beta = MatrixSchedule::constant(Matrix::Constant(1, 1, 1.0));
  HeadSchedule hs{MatrixSchedule::constant(id),
                  MatrixSchedule::sinusoid(id, 0.5 * Matrix::Ones(d, d), 2.0, 0.3),
                  MatrixSchedule::constant(id), MatrixSchedule::constant(Matrix())};
  schedule->heads.push_back(hs);
  model.schedule = schedule;
  apply_schedule(model, 0.0);
  return model;
}

TEST(PerturbWeights, ScheduledMatrixKeepsAConstantOffset) {
  const Index d = 3;
  const double eps = 1e-3;
  const Model model = sinusoid_k_model(d);
  const Model perturbed = analysis::perturb_weights(model, eps, 7);
  Matrix first_dk, first_dq;
  for (double t : {0.0, 0.37, 1.9}) {
    Model a = model, b = perturbed;
    apply_schedule(a, t);
    apply_schedule(b, t);
    const Matrix dk = b.heads[0].K - a.heads[0].K;  // scheduled: offset re-added at every t
    const Matrix dq = b.heads[0].Q - a.heads[0].Q;  // constant: perturbed once, kept
    // ‖Ξ‖_F² has mean d² ε²/d = 3ε²: far from 0 and from 10ε for any sane draw.
    EXPECT_GT(dk.norm(), 0.1 * eps);
    EXPECT_LT(dk.norm(), 10 * eps);
    EXPECT_GT(dq.norm(), 0.1 * eps);
    if (first_dk.size() == 0) {
      first_dk = dk;
      first_dq = dq;
    } else {
      EXPECT_LT((dk - first_dk).cwiseAbs().maxCoeff(), 1e-15);  // K(t) + Ξ: a constant offset
      EXPECT_TRUE(dq == first_dq);
    }
  }
  // The caller's schedule is not modified.
  EXPECT_TRUE(model.schedule->offsets.empty());
}

TEST(PerturbWeights, SameDrawsWithAndWithoutSchedule) {
  const Index d = 3;
  Model with = sinusoid_k_model(d);
  Model without = with;
  without.schedule = nullptr;
  const Model a = analysis::perturb_weights(with, 1e-2, 11);
  const Model b = analysis::perturb_weights(without, 1e-2, 11);
  EXPECT_TRUE(a.heads[0].Q == b.heads[0].Q);
  EXPECT_TRUE(a.heads[0].K == b.heads[0].K);
  EXPECT_TRUE(a.heads[0].V == b.heads[0].V);
}

}  // namespace
}  // namespace attnflow
