#pragma once
// The one streaming reduction every attention kernel runs on (DESIGN "One engine, many kernels").
//
// For each query i it computes, without ever storing an N×N matrix,
//     s_ij = Score(q_i, k_j) (masked),  p_ij = Weighting(s_ij, w_j),
//     log Z_i = log Σ_j p_ij,            out_i = Normalization(Σ_j p_ij v_j)
// in blocks of kKeyBlock keys. Exponential weightings keep the online max / log-sum-exp of
// OnlineSoftmax, so that scores as large as β = 10⁴ stay finite. Memory is O((N_q + N_k)(k + dv)).
//
// Determinism: each query's reduction runs over the key blocks in order, with kLanes fixed partial
// sums combined in a fixed order, on one thread. Threads only decide which queries they own, so the
// result is bitwise the same for any thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attnflow/attention_tables.hpp"
#include "attnflow/online_softmax.hpp"

namespace attnflow {

/// Where the engine writes: per-query outputs (n_q × dv, may be null if dv = 0) and log Z_i
/// (may be null).
struct AttentionOutput {
  double* values = nullptr;
  double* log_partition = nullptr;
};

/// Streams all keys past all queries; see the file comment. Score, Weighting, Mask and
/// Normalization are the policies of score.hpp, weighting.hpp, mask.hpp and normalization.hpp.
template <class Normalization, class Score, class Weighting, class Mask>
void stream_attention(const QueryTable& queries, const KeyTable& keys, const Score& score,
                      const Weighting& weighting, const Mask& mask, AttentionOutput out) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const Index nq = queries.n;
  const Index dv = out.values != nullptr ? keys.dv : 0;  // no values wanted: skip their sums
  const Index n_blocks = (nq + kQueryBlock - 1) / kQueryBlock;

  const bool parallel = n_blocks > 1 && nq * keys.stride * (keys.k + dv + 1) > kParallelPairWork;
#pragma omp parallel if (parallel)
  {
    std::vector<double> s(kKeyBlock);
    std::vector<OnlineSoftmax> state(kQueryBlock);
    std::vector<double> lane_sum(kQueryBlock * kLanes);
    std::vector<double> lane_acc(static_cast<std::size_t>(kQueryBlock * dv * kLanes));
    std::vector<double> acc(static_cast<std::size_t>(dv));

#pragma omp for schedule(static)
    for (Index b = 0; b < n_blocks; ++b) {
      const Index i0 = b * kQueryBlock;
      const Index i1 = std::min(nq, i0 + kQueryBlock);
      double max_query_position = kNegInf;
      for (Index i = i0; i < i1; ++i) max_query_position = std::max(max_query_position, queries.position[i]);
      // Weightings without an exponential use the fixed shift m = 0.
      std::fill(state.begin(), state.end(), Weighting::kOnlineMax ? OnlineSoftmax{} : OnlineSoftmax{0.0, 0.0});
      std::fill(lane_sum.begin(), lane_sum.end(), 0.0);
      std::fill(lane_acc.begin(), lane_acc.end(), 0.0);

      for (Index j0 = 0; j0 < keys.stride; j0 += kKeyBlock) {
        const Index len = std::min(kKeyBlock, keys.stride - j0);
        if (!mask.block_visible(keys, j0, len, max_query_position)) continue;
        const double* log_w = keys.log_weight.data() + j0;
        const double* w = keys.weight.data() + j0;
        for (Index i = i0; i < i1; ++i) {
          score.block(queries.query(i), keys, j0, len, s.data());
          mask.apply(queries.position[i], keys, j0, len, s.data());
          OnlineSoftmax& st = state[i - i0];
          double* ls = lane_sum.data() + (i - i0) * kLanes;
          double* la = lane_acc.data() + (i - i0) * dv * kLanes;
          [[maybe_unused]] const double block_max = weighting.prepare(s.data(), log_w, w, len);
          if constexpr (Weighting::kOnlineMax) {
            if (block_max == kNegInf) continue;
            if (block_max > st.max) {
              const double r = Weighting::rescale(st.max, block_max);
              for (Index l = 0; l < kLanes; ++l) ls[l] *= r;
              for (Index c = 0; c < dv * kLanes; ++c) la[c] *= r;
              st.max = block_max;
            }
          }
          weighting.weights(s.data(), log_w, w, len, st.max);  // s now holds p_ij e^{−m}
          for (Index j = 0; j < len; j += kLanes)
            for (Index l = 0; l < kLanes; ++l) ls[l] += s[j + l];
          for (Index c = 0; c < dv; ++c) {
            const double* v = keys.value_row(c) + j0;  // row c of keys.dv rows
            double* a = la + c * kLanes;
            for (Index j = 0; j < len; j += kLanes)
              for (Index l = 0; l < kLanes; ++l) a[l] += s[j + l] * v[j + l];
          }
        }
      }

      for (Index i = i0; i < i1; ++i) {
        OnlineSoftmax& st = state[i - i0];
        const double* ls = lane_sum.data() + (i - i0) * kLanes;
        const double* la = lane_acc.data() + (i - i0) * dv * kLanes;
        st.sum = 0.0;
        for (Index l = 0; l < kLanes; ++l) st.sum += ls[l];
        for (Index c = 0; c < dv; ++c) {
          double a = 0.0;
          for (Index l = 0; l < kLanes; ++l) a += la[c * kLanes + l];
          acc[c] = a;
        }
        if (out.values != nullptr) Normalization::finalize(st, acc.data(), dv, out.values + i * dv);
        if (out.log_partition != nullptr) out.log_partition[i] = st.log_partition();
      }
    }
  }
}

}  // namespace attnflow
