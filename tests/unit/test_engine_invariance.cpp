// Invariances of the attention field: token permutation, duplicated tokens, rotations, and
// bitwise determinism across thread counts.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <string>
#include <vector>

#include "attnflow/attention_field.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/kernel_registry.hpp"
#include "dense_reference.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

Matrix evaluate(const Model& model, const Matrix& x, const std::vector<double>& w,
                const std::vector<double>& pos) {
  AttentionField field(model, w, pos);
  Matrix out;
  field.evaluate(x, out);
  return out;
}

// Relabelling the tokens relabels the outputs. Not bitwise: the key blocks (and the lanes inside
// them) then hold other tokens, so the sums run in another order. Both evaluations are within the
// engine bound of the same exact value, hence within twice the bound of each other.
TEST(EngineInvariance, PermutingTokensPermutesTheOutput) {
  const Index n = 300, d = 4;
  for (const KernelInfo& info : kKernels)
    for (bool causal : {false, true})
      for (bool multihead : {false, true}) {
        if (causal && info.kind == KernelKind::sinkhorn) continue;  // cannot be masked
        SCOPED_TRACE(std::string(info.name) + (causal ? " causal" : " full") +
                     (multihead ? " 3 heads" : " identity"));
        Rng rng(31);
        const Matrix x = radial_points(n, d, rng);
        const std::vector<double> w = random_weights(n, rng);
        const std::vector<double> pos = shuffled_tied_positions(n, rng);
        Model model =
            multihead ? multi_head(d, 1.0, info.kind, rng) : identity_heads(d, 2.0, info.kind);
        model.causal = causal;
        const std::vector<Index> perm = random_permutation(n, rng);
        Matrix xp(n, d);
        std::vector<double> wp(static_cast<std::size_t>(n)), pp(wp);
        for (Index r = 0; r < n; ++r) {
          xp.row(r) = x.row(perm[r]);
          wp[r] = w[perm[r]];
          pp[r] = pos[perm[r]];
        }
        const Matrix out = evaluate(model, x, w, pos);
        const Matrix outp = evaluate(model, xp, wp, pp);
        const dense::FieldResult ref = dense::field(model, x, w, pos);
        Matrix expected(n, d), scale(n, d);
        for (Index r = 0; r < n; ++r) {
          expected.row(r) = out.row(perm[r]);
          scale.row(r) = ref.v_abs.row(perm[r]);
        }
        const double rel = engine_bound(model, ref, w, n, d);
        expect_well_posed(model, ref, rel);
        EXPECT_TRUE(within_scaled(outp, expected, scale, 2.0 * rel));
      }
}

// A token listed twice with masses w/2 each is the same measure as the token once with mass w:
// every output (the copy's included) is unchanged. (Sigmoid gets an explicit bias: its default
// −log N counts listed tokens. hardmax: the two copies tie exactly and share the mass.)
TEST(EngineInvariance, DuplicateTokenEqualsDoubledWeight) {
  const Index n = 50, d = 3;
  for (const KernelInfo& info : kKernels)
    for (bool causal : {false, true}) {
      if (causal && info.kind == KernelKind::sinkhorn) continue;  // cannot be masked
      SCOPED_TRACE(std::string(info.name) + (causal ? " causal" : " full"));
      Rng rng(41);
      const Matrix x = radial_points(n, d, rng);
      const std::vector<double> w = random_weights(n, rng);
      const std::vector<double> pos = shuffled_tied_positions(n, rng);
      Model model = multi_head(d, 1.0, info.kind, rng);
      model.causal = causal;
      model.sigmoid_bias = -2.0;
      const Index dup = 2;  // a token with positive mass
      ASSERT_GT(w[dup], 0.0);
      Matrix x2(n + 1, d);
      x2.topRows(n) = x;
      x2.row(n) = x.row(dup);
      std::vector<double> w2 = w, pos2 = pos;
      w2[dup] = 0.5 * w[dup];
      w2.push_back(0.5 * w[dup]);
      pos2.push_back(pos[dup]);

      const Matrix once = evaluate(model, x, w, pos);
      const Matrix twice = evaluate(model, x2, w2, pos2);
      const dense::FieldResult ref = dense::field(model, x, w, pos);
      const double tol = 2.0 * engine_bound(model, ref, w, n + 1, d);
      expect_well_posed(model, ref, tol);
      EXPECT_TRUE(within_scaled(twice.topRows(n), once, ref.v_abs, tol));
      EXPECT_TRUE(within_scaled(twice.bottomRows(1), once.row(dup), ref.v_abs.row(dup), tol));
    }
}

// With Q = K = V = I the scores ⟨x_i, x_j⟩ are rotation invariant, so v(Rx) = R v(x), and on the
// sphere P⊥_{Rx} R v = R P⊥_x v. Rotating the input perturbs it by γ_d |x|, the same order as the
// engine's rounding of q = Qx and k = Kx already inside the bound: each side is within twice the
// bound of its exact value. Row scales ‖v_abs_i‖₂·√d dominate the entrywise scale in any frame.
TEST(EngineInvariance, RotationCovarianceWithIdentityWeights) {
  const Index n = 80, d = 4;
  for (const KernelInfo& info : kKernels)
    for (Geometry geometry : {Geometry::euclidean, Geometry::sphere}) {
      SCOPED_TRACE(std::string(info.name) + " " + std::string(geometry_name(geometry)));
      Rng rng(51);
      const Matrix x = sphere_points(n, d, rng);
      const std::vector<double> w = random_weights(n, rng);
      const std::vector<double> pos = index_positions(n);
      const Matrix R = random_orthogonal(d, rng);
      const Matrix xr = x * R.transpose();  // rows R x_i
      const Model model = identity_heads(d, 2.5, info.kind, geometry);
      Dynamics dyn(AttentionField(model, w, pos));
      Matrix v, vr;
      dyn.velocity(0.0, x, v);
      dyn.velocity(0.0, xr, vr);
      const dense::FieldResult ref = dense::field(model, x, w, pos);
      expect_well_posed(model, ref, engine_bound(model, ref, w, n, d));
      Matrix scale(n, d);
      for (Index i = 0; i < n; ++i)
        scale.row(i).setConstant(std::sqrt(static_cast<double>(d)) * ref.v_abs.row(i).norm());
      const double tol =
          4.0 * engine_bound(model, ref, w, n, d) + 4.0 * static_cast<double>(d) * kU;
      EXPECT_TRUE(within_scaled(vr, Matrix(v * R.transpose()), scale, tol));
      EXPECT_GT(v.cwiseAbs().maxCoeff(), 1e-2);
    }
}

// Threads only decide which query blocks they own: every output is bitwise the same for 1, 2 and
// 3 threads (3 does not divide the 8 query blocks of N = 1000 evenly).
TEST(EngineDeterminism, BitwiseIdenticalAcrossThreadCounts) {
  const Index n = 1000, d = 6;
  const int saved = omp_get_max_threads();
  for (const KernelInfo& info : kKernels)
    for (bool causal : {false, true}) {
      if (causal && info.kind == KernelKind::sinkhorn) continue;  // cannot be masked
      SCOPED_TRACE(std::string(info.name) + (causal ? " causal" : " full"));
      Rng rng(61);
      const Matrix x = sphere_points(n, d, rng);
      const std::vector<double> w = random_weights(n, rng);
      const std::vector<double> pos = shuffled_tied_positions(n, rng);
      Model model = multi_head(d, 1.0, info.kind, rng, Geometry::sphere);
      model.causal = causal;
      Measure measure{x, w, pos};
      std::vector<Matrix> fields, velocities, gradients;
      std::vector<double> energies;
      // The projected velocity and the energies do not depend on the kernel: checked once.
      const bool kernel_free_parts = info.kind == KernelKind::softmax;
      for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        fields.push_back(evaluate(model, x, w, pos));
        Matrix v = Matrix::Zero(n, d), g = Matrix::Zero(n, d);
        double e = 0.0;
        if (kernel_free_parts) {
          Dynamics dyn(AttentionField(model, w, pos));
          dyn.velocity(0.0, x, v);
          g = energy_gradient(model, measure);
          e = interaction_energy(model, measure).log_value;
        }
        velocities.push_back(v);
        gradients.push_back(g);
        energies.push_back(e);
      }
      omp_set_num_threads(saved);
      for (std::size_t t = 1; t < fields.size(); ++t) {
        SCOPED_TRACE("thread count index " + std::to_string(t));
        const auto bytes = static_cast<std::size_t>(n * d) * sizeof(double);
        EXPECT_EQ(std::memcmp(fields[t].data(), fields[0].data(), bytes), 0);
        EXPECT_EQ(std::memcmp(velocities[t].data(), velocities[0].data(), bytes), 0);
        EXPECT_EQ(std::memcmp(gradients[t].data(), gradients[0].data(), bytes), 0);
        EXPECT_EQ(std::memcmp(&energies[t], &energies[0], sizeof(double)), 0);
      }
    }
  omp_set_num_threads(saved);
}

}  // namespace
