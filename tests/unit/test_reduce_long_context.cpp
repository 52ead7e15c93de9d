// The long-context phase transition of [R] (docs/reduced_models.md §3): the exact finite-n
// similarity against the attention engine evaluated on the actual equiangular tokens, and its
// n → ∞ limits 1, 4ρ/(1+3ρ), ρ written here from the theorem.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "attnflow/attention_field.hpp"
#include "attnflow/error.hpp"
#include "attnflow/init.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/reduce/long_context.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::reduce;

// One softmax layer (Q = K = V = I, β = γ log n) on n unit tokens with Gram matrix
// (1−ρ)I + ρ11ᵀ, evaluated by the streaming engine: every output pair has the same cosine, equal to
// the formula. Tolerance: the engine's rounding on O(1) sums of n terms, ≲ n·eps ≈ 3e-14 for
// n = 120, and the normalisation of the outputs: 1e-12.
TEST(ReduceLongContext, FormulaMatchesTheEngineOnTheTokens) {
  for (Index n : {3, 17, 120}) {
    for (double rho : {0.2, 0.6, -0.4 / static_cast<double>(n - 1)}) {
      const double gc = long_context_critical_gamma(rho);
      for (double gamma : {0.5 * gc, gc, 2.0 * gc}) {
        for (bool residual : {false, true}) {
          SCOPED_TRACE("n = " + std::to_string(n) + " rho = " + std::to_string(rho) +
                       " gamma = " + std::to_string(gamma) + (residual ? " residual" : ""));
          const Matrix x = equiangular_points(n, n, rho);
          const Measure m = uniform_measure(x);
          AttentionField field(identity_model(n, gamma * std::log(static_cast<double>(n)),
                                              KernelKind::softmax, Geometry::euclidean),
                               m.weights, m.positions);
          Matrix out;
          field.evaluate(x, out);
          if (residual) out += x;
          const double expected =
              long_context_similarity(static_cast<double>(n), gamma, rho, residual);
          for (Index i = 0; i < n; ++i)
            for (Index j = i + 1; j < n; ++j)
              ASSERT_NEAR(out.row(i).normalized().dot(out.row(j).normalized()), expected, 1e-12)
                  << "pair " << i << "," << j;
        }
      }
    }
  }
}

// [R] Theorem (long-context phase transition): lim ⟨θ_i, θ_j⟩ = 1, 4ρ/(1+3ρ), ρ for γ <, =, > γ_c
// = 1/(1−ρ). The distance to the limit decays like n^{2γ(1−ρ)−2} (below), 1/n (at) and
// n^{−γ(1−ρ)+1} (above) (docs §3.2): at γ = γ_c/2, γ_c, 2γ_c all three are O(1/n) = 1e-40 at
// n = 10^{40}, far below the 1e-12 required; the gaps at n = 10^4, 10^8, 10^16 must decrease (the
// limit is approached, not just hit).
TEST(ReduceLongContext, ApproachesThePhaseTransitionLimits) {
  for (double rho : {0.1, 0.5, 0.8}) {
    const double gc = 1.0 / (1.0 - rho);
    const double limits[3] = {1.0, 4.0 * rho / (1.0 + 3.0 * rho), rho};
    const double gammas[3] = {0.5 * gc, gc, 2.0 * gc};
    for (int k = 0; k < 3; ++k) {
      SCOPED_TRACE("rho = " + std::to_string(rho) + " regime " + std::to_string(k));
      EXPECT_NEAR(long_context_similarity(1e40, gammas[k], rho), limits[k], 1e-12);
      EXPECT_EQ(long_context_limit(gammas[k], rho), limits[k]);
      double previous = 2.0;
      for (double n : {1e4, 1e8, 1e16}) {
        const double gap = std::fabs(long_context_similarity(n, gammas[k], rho) - limits[k]);
        EXPECT_LT(gap, previous);
        previous = gap;
      }
      EXPECT_GT(std::fabs(long_context_similarity(10.0, gammas[k], rho) - limits[k]),
                1e-3);  // non-vacuous
    }
  }
  EXPECT_EQ(long_context_regime(0.5, 0.5), "subcritical");
  EXPECT_EQ(long_context_regime(2.0, 0.5), "critical");
  EXPECT_EQ(long_context_regime(3.0, 0.5), "supercritical");
}

void expect_error(const std::function<void()>& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), text);
  }
}

TEST(ReduceLongContext, RejectsBadInput) {
  expect_error([] { validate_long_context(1.0, 1.0, 0.5); },
               "--n: the long-context layer needs n >= 2 tokens, got 1");
  expect_error([] { validate_long_context(10.0, 0.0, 0.5); },
               "--gamma: must be finite and > 0 (beta = gamma log n), got 0");
  expect_error([] { validate_long_context(5.0, 1.0, -0.25); },
               "--rho: must lie in (-1/(n-1), 1] = (-0.25, 1] for n = 5, got -0.25");
  expect_error([] { validate_long_context(5.0, 1.0, 1.2); },
               "--rho: must lie in (-1/(n-1), 1] = (-0.25, 1] for n = 5, got 1.2");
}

}  // namespace
