#pragma once
// Score policies: how s_ij is formed from a query and a key (DESIGN principle 2). A policy returns
// the scores of one query against eight consecutive keys; the engine masks and weights them.
#include "attnflow/attention_tables.hpp"
#include "attnflow/simd.hpp"

namespace attnflow {

/// s_ij = β ⟨q_i, k_j⟩: dot-product attention ([C] eq. (1), [R] SA/USA).
struct DotScore {
  double beta;

  /// s[j] = β⟨q, k_{j0+j}⟩ for j < len (len a multiple of kLanes).
  /// Scores of query q against keys jj .. jj+7 of a block (k × len array, see KeyTable).
  [[gnu::always_inline]] simd::v8d chunk(const double* q, const double* block, Index k, Index len,
                                         Index jj) const {
    simd::v8d dot{};
    for (Index c = 0; c < k; ++c) dot += q[c] * simd::load(block + c * len + jj);
    return dot * beta;
  }

  /// out[u] = chunk(q, block, k, len, jj + u·kLanes) for u < kChunks, bitwise: each chunk's sum
  /// runs over c in the same order. Interleaving independent chunks hides the add latency of the
  /// one-accumulator chain, which bounded large-k scores (k = 64: one add per ~4 cycles).
  template <int kChunks>
  [[gnu::always_inline]] void chunks(const double* q, const double* block, Index k, Index len,
                                     Index jj, simd::v8d* out) const {
    simd::v8d dot[kChunks] = {};
    for (Index c = 0; c < k; ++c) {
      const double* row = block + c * len + jj;
      for (int u = 0; u < kChunks; ++u) dot[u] += q[c] * simd::load(row + u * kLanes);
    }
    for (int u = 0; u < kChunks; ++u) out[u] = dot[u] * beta;
  }
};

/// s_ij = −β ‖q_i − k_j‖²: L2 self-attention ([C] §L2, Kim et al. 2021). With β = 1/√(k) and
/// Q = K this is Kim et al.'s Lipschitz L2 attention (their scale √(D/H) is attnflow's 1/β).
struct L2Score {
  double beta;

  /// Scores of query q against keys jj .. jj+7 of a block (k × len array, see KeyTable).
  [[gnu::always_inline]] simd::v8d chunk(const double* q, const double* block, Index k, Index len,
                                         Index jj) const {
    simd::v8d dist{};
    for (Index c = 0; c < k; ++c) {
      const simd::v8d diff = q[c] - simd::load(block + c * len + jj);
      dist += diff * diff;
    }
    return dist * -beta;
  }

  /// out[u] = chunk(q, block, k, len, jj + u·kLanes) for u < kChunks, bitwise (see DotScore).
  template <int kChunks>
  [[gnu::always_inline]] void chunks(const double* q, const double* block, Index k, Index len,
                                     Index jj, simd::v8d* out) const {
    simd::v8d dist[kChunks] = {};
    for (Index c = 0; c < k; ++c) {
      const double* row = block + c * len + jj;
      for (int u = 0; u < kChunks; ++u) {
        const simd::v8d diff = q[c] - simd::load(row + u * kLanes);
        dist[u] += diff * diff;
      }
    }
    for (int u = 0; u < kChunks; ++u) out[u] = dist[u] * -beta;
  }
};

}  // namespace attnflow
