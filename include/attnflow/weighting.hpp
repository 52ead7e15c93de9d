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

/// p_ij = w_j σ(s_ij + b): sigmoid attention ([C] §sigmoid; Ramapuram et al.), not normalised.
struct SigmoidWeights {
  static constexpr bool kOnlineMax = false;
  double bias;

  double prepare(double*, const double*, const double*, Index) const { return 0.0; }
  static double rescale(double, double) { return 1.0; }
  /// s_j ← w_j σ(s_j + b), with σ(z) = 1/(1 + e^{−z}) evaluated without overflow.
  void weights(double* s, const double*, const double* w, Index len, double) const {
    for (Index j = 0; j < len; ++j) {
      const double z = s[j] + bias;
      const double sig = z >= 0.0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z));
      s[j] = w[j] * sig;
    }
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
