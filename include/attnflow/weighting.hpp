#pragma once
// Weighting policies: how (masked) scores s_ij and key masses w_j become the non-negative weights
// p_ij that the engine sums (DESIGN principle 2), one vector of keys at a time (V: a simd::Pack of
// 8 doubles, or 16 floats in the float32 engine; the running maximum m stays a double,
// OnlineSoftmax).
// Exponential kernels keep an online maximum m so that e^{s−m} never overflows; kernels without an
// exponential use a fixed shift m = 0.
#include <algorithm>
#include <cmath>
#include <limits>

#include "attnflow/attention_tables.hpp"
#include "attnflow/online_softmax.hpp"
#include "attnflow/simd.hpp"
#include "attnflow/types.hpp"

namespace attnflow {

/// p_ij = w_j e^{s_ij − m}: softmax, USA and L2 attention ([C] eq. (1), [R] SA/USA).
struct ExpWeights {
  static constexpr bool kOnlineMax = true;

  /// The quantity whose running maximum is kept: s + log w (massless keys give −∞).
  template <class V>
  [[gnu::always_inline]] V prepare(V s, V log_w) const {
    return s + log_w;
  }
  /// The factor that moves partial sums from maximum m to m_new ≥ m.
  static double rescale(double m, double m_new) { return OnlineSoftmax::rescale(m, m_new); }
  /// p e^{−m} = e^{s + log w − m} from the prepared score (simd.hpp's exponential; its error is
  /// documented there). m is the running maximum of the prepared scores, so the argument is ≤ 0
  /// (or NaN): no overflow clamp is needed. In the float32 engine m is the maximum of float
  /// scores, so it is exact as a float.
  template <class V>
  [[gnu::always_inline]] V weight(V prepared, V, double m) const {
    return simd::exp_nonpositive(prepared - static_cast<simd::scalar_of<V>>(m));
  }
};

/// p_ij = w_j e^{−b} σ(s_ij + b) = w_j / (e^b + e^{−s_ij}): sigmoid attention ([C]; Ramapuram et
/// al. 2024), not normalised. The factor e^{−b} makes the kernel a measure kernel with two exact
/// properties: with uniform masses w_j = 1/N and b = −log N it is the real layer Σ_j σ(s_ij − log
/// N) V x_j, and as b → −∞ (so as N → ∞ with the default bias) it tends to USA, w_j e^{s_ij}.
/// (SPEC's w_j σ(s_ij + b) with b = −log N would count 1/N twice and vanish as N grows.)
struct SigmoidWeights {
  static constexpr bool kOnlineMax = false;
  double exp_bias;  ///< e^b

  template <class V>
  [[gnu::always_inline]] V prepare(V s, V) const {
    return s;
  }
  static double rescale(double, double) { return 1.0; }
  /// w / (e^b + e^{−s}); masked keys (s = −∞) give 0, large scores w e^{−b}.
  template <class V>
  [[gnu::always_inline]] V weight(V s, V w, double) const {
    return w / (static_cast<simd::scalar_of<V>>(exp_bias) + simd::exp(-s));
  }
};

/// The β → ∞ limit of softmax: p_ij = w_j on argmax_j s_ij (among keys with w_j > 0), 0 elsewhere.
/// Ties are exact floating-point equalities of scores, all of which share the mass: the result does
/// not depend on key order.
struct HardmaxWeights {
  static constexpr bool kOnlineMax = true;

  /// Massless keys are excluded (−∞).
  template <class V>
  [[gnu::always_inline]] V prepare(V s, V log_w) const {
    const V neg_inf = simd::fill<V>(-std::numeric_limits<double>::infinity());
    return simd::select(log_w == neg_inf, neg_inf, s);
  }
  /// A strictly larger maximum discards everything seen so far.
  static double rescale(double m, double m_new) { return m_new > m ? 0.0 : 1.0; }
  /// w if s = m, else 0 (m is one of the scores, so exact in the scores' type).
  template <class V>
  [[gnu::always_inline]] V weight(V s, V w, double m) const {
    using T = simd::scalar_of<V>;
    return simd::select(s == static_cast<T>(m), w, simd::fill<V>(0.0));
  }
};

}  // namespace attnflow
