#pragma once
// Score policies: how s_ij is formed from a query and a key (DESIGN principle 2). A policy returns
// the scores of one query against one vector of consecutive keys (kLanesOf<T> of them: 8 doubles
// or 16 floats, T being the scalar of the engine's tables); the engine masks and weights them.
#include "attnflow/attention_tables.hpp"
#include "attnflow/simd.hpp"

namespace attnflow {

/// s_ij = β ⟨q_i, k_j⟩: dot-product attention ([C] eq. (1), [R] SA/USA).
struct DotScore {
  double beta;

  /// Scores of query q against keys jj .. jj + kLanesOf<T> − 1 of a block (k × len array, see
  /// KeyTable), with β rounded to T.
  template <class T>
  [[gnu::always_inline]] simd::vec<T> chunk(const T* q, const T* block, Index k, Index len,
                                            Index jj) const {
    simd::vec<T> dot{};
    for (Index c = 0; c < k; ++c) dot += q[c] * simd::load(block + c * len + jj);
    return dot * static_cast<T>(beta);
  }

  /// out[g][u] = chunk(q[g], block, k, len, jj + u·kLanesOf<T>) for u < kChunks and G queries,
  /// bitwise: every (g, u) sum runs over c in the same order as chunk(). Each key load serves all
  /// G queries, and the G·kChunks independent chains hide the add latency of one chain, which
  /// bounded large-k scores (k = 64: one add per ~4 cycles).
  template <int kChunks, int G, class T, int kStride>
  [[gnu::always_inline]] void chunks(const T* const* q, const T* block, Index k, Index len,
                                     Index jj, simd::vec<T> (*out)[kStride]) const {
    static_assert(kChunks <= kStride);
    constexpr Index kL = kLanesOf<T>;
    simd::vec<T> dot[G][kChunks] = {};
    for (Index c = 0; c < k; ++c) {
      const T* row = block + c * len + jj;
      for (int u = 0; u < kChunks; ++u) {
        const simd::vec<T> key = simd::load(row + u * kL);
        for (int g = 0; g < G; ++g) dot[g][u] += q[g][c] * key;
      }
    }
    for (int g = 0; g < G; ++g)
      for (int u = 0; u < kChunks; ++u) out[g][u] = dot[g][u] * static_cast<T>(beta);
  }
};

/// s_ij = −β ‖q_i − k_j‖²: L2 self-attention ([C] §L2, Kim et al. 2021). With β = 1/√(k) and
/// Q = K this is Kim et al.'s Lipschitz L2 attention (their scale √(D/H) is attnflow's 1/β).
struct L2Score {
  double beta;

  /// Scores of query q against keys jj .. jj + kLanesOf<T> − 1 of a block (see DotScore).
  template <class T>
  [[gnu::always_inline]] simd::vec<T> chunk(const T* q, const T* block, Index k, Index len,
                                            Index jj) const {
    simd::vec<T> dist{};
    for (Index c = 0; c < k; ++c) {
      const simd::vec<T> diff = q[c] - simd::load(block + c * len + jj);
      dist += diff * diff;
    }
    return dist * -static_cast<T>(beta);
  }

  /// out[g][u] = chunk(q[g], ...) for G queries sharing each key load, bitwise (see DotScore).
  template <int kChunks, int G, class T, int kStride>
  [[gnu::always_inline]] void chunks(const T* const* q, const T* block, Index k, Index len,
                                     Index jj, simd::vec<T> (*out)[kStride]) const {
    static_assert(kChunks <= kStride);
    constexpr Index kL = kLanesOf<T>;
    simd::vec<T> dist[G][kChunks] = {};
    for (Index c = 0; c < k; ++c) {
      const T* row = block + c * len + jj;
      for (int u = 0; u < kChunks; ++u) {
        const simd::vec<T> key = simd::load(row + u * kL);
        for (int g = 0; g < G; ++g) {
          const simd::vec<T> diff = q[g][c] - key;
          dist[g][u] += diff * diff;
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int u = 0; u < kChunks; ++u) out[g][u] = dist[g][u] * -static_cast<T>(beta);
  }
};

}  // namespace attnflow
