#pragma once
// Weighting policies: how a block of (masked) scores s_ij and key masses w_j become the
// non-negative weights p_ij that the engine sums (DESIGN principle 2). Exponential kernels keep an
// online maximum m so that e^{s−m} never overflows (OnlineSoftmax); kernels without an exponential
// use a fixed shift m = 0.
#include <algorithm>
#include <cmath>
#include <limits>

#include "attnflow/online_softmax.hpp"
#include "attnflow/types.hpp"

namespace attnflow {

/// p_ij = w_j e^{s_ij − m}: softmax, USA and L2 attention ([C] eq. (1), [R] SA/USA).
struct ExpWeights {
  static constexpr bool kOnlineMax = true;

  /// s_j ← s_j + log w_j (massless keys become −∞); returns the block maximum.
  double prepare(double* s, const double* log_w, const double*, Index len) const {
    double m = -std::numeric_limits<double>::infinity();
    for (Index j = 0; j < len; ++j) {
      s[j] += log_w[j];
      m = std::max(m, s[j]);
    }
    return m;
  }
  /// The factor that moves partial sums from maximum m to m_new ≥ m.
  static double rescale(double m, double m_new) { return OnlineSoftmax::rescale(m, m_new); }
  /// s_j ← e^{s_j − m}.
  void weights(double* s, const double*, const double*, Index len, double m) const {
    for (Index j = 0; j < len; ++j) s[j] = std::exp(s[j] - m);
  }
};

/// p_ij = w_j e^{−b} σ(s_ij + b) = w_j / (e^b + e^{−s_ij}): sigmoid attention ([C]; Ramapuram et
/// al. 2024), not normalised. The factor e^{−b} makes the kernel a measure kernel with two exact
/// properties: with uniform masses w_j = 1/N and b = −log N it is the real layer Σ_j σ(s_ij − log N)
/// V x_j, and as b → −∞ (so as N → ∞ with the default bias) it tends to USA, w_j e^{s_ij}.
/// (SPEC's w_j σ(s_ij + b) with b = −log N would count 1/N twice and vanish as N grows.)
struct SigmoidWeights {
  static constexpr bool kOnlineMax = false;
  double exp_bias;  ///< e^b

  double prepare(double*, const double*, const double*, Index) const { return 0.0; }
  static double rescale(double, double) { return 1.0; }
  /// s_j ← w_j / (e^b + e^{−s_j}); masked keys (s_j = −∞) give 0, large scores w_j e^{−b}.
  void weights(double* s, const double*, const double* w, Index len, double) const {
    for (Index j = 0; j < len; ++j) s[j] = w[j] / (exp_bias + std::exp(-s[j]));
  }
};

/// The β → ∞ limit of softmax: p_ij = w_j on argmax_j s_ij (among keys with w_j > 0), 0 elsewhere.
/// Ties are exact floating-point equalities of scores, all of which share the mass: the result does
/// not depend on key order.
struct HardmaxWeights {
  static constexpr bool kOnlineMax = true;

  /// Massless keys are excluded (s_j ← −∞); returns the block maximum.
  double prepare(double* s, const double* log_w, const double*, Index len) const {
    constexpr double kNegInf = -std::numeric_limits<double>::infinity();
    double m = kNegInf;
    for (Index j = 0; j < len; ++j) {
      if (log_w[j] == kNegInf) s[j] = kNegInf;
      m = std::max(m, s[j]);
    }
    return m;
  }
  /// A strictly larger maximum discards everything seen so far.
  static double rescale(double m, double m_new) { return m_new > m ? 0.0 : 1.0; }
  /// s_j ← w_j if s_j = m, else 0.
  void weights(double* s, const double*, const double* w, Index len, double m) const {
    for (Index j = 0; j < len; ++j) s[j] = s[j] == m ? w[j] : 0.0;
  }
};

}  // namespace attnflow
