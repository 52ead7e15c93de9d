#pragma once
// The online log-sum-exp accumulator of FlashAttention-style streaming attention.
//
// For one query it holds (m, l, a) with Σ_j p_j = e^m l and Σ_j p_j v_j = e^m a over the keys
// seen so far, where p_j = w_j e^{s_ij}. Two states merge associatively, so the result depends on
// the block structure only, never on how blocks are distributed over threads (DESIGN principle 6).
#include <cmath>
#include <limits>

namespace attnflow {

/// Running (max, shifted sum, shifted weighted sum) of one query's exponentiated scores.
struct OnlineSoftmax {
  double max = -std::numeric_limits<double>::infinity();  ///< m: largest score seen
  double sum = 0.0;                                       ///< l: Σ e^{s_j − m}

  /// Rescale factor that moves the state from max m to max m_new ≥ m (0 when nothing was seen).
  static double rescale(double m, double m_new) {
    return m == -std::numeric_limits<double>::infinity() ? 0.0 : std::exp(m - m_new);
  }

  /// log Σ_j e^{s_j}: the log-partition function (−∞ when no key contributed).
  double log_partition() const {
    return sum > 0.0 ? max + std::log(sum) : -std::numeric_limits<double>::infinity();
  }
};

/// Merges b into a (associative): the state of the union of both key sets. acc_a and acc_b are
/// the shifted weighted sums (length dv).
inline void merge(OnlineSoftmax& a, double* acc_a, const OnlineSoftmax& b, const double* acc_b,
                  long dv) {
  const double m = a.max > b.max ? a.max : b.max;
  if (m == -std::numeric_limits<double>::infinity()) return;
  const double sa = OnlineSoftmax::rescale(a.max, m);
  const double sb = OnlineSoftmax::rescale(b.max, m);
  a.sum = a.sum * sa + b.sum * sb;
  for (long c = 0; c < dv; ++c) acc_a[c] = acc_a[c] * sa + acc_b[c] * sb;
  a.max = m;
}

}  // namespace attnflow
