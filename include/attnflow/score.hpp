#pragma once
// Score policies: how s_ij is formed from a query and a key (DESIGN principle 2). A policy returns
// the scores of a group of queries against a few vectors of consecutive keys (kLanesOf<T> per
// vector: 8 doubles or 16 floats, T being the scalar of the engine's tables, in the vector type V
// of the width being compiled); the engine masks and weights them.
#include "attnflow/attention_tables.hpp"
#include "attnflow/simd.hpp"

namespace attnflow {

/// s_ij = β ⟨q_i, k_j⟩: dot-product attention ([C] eq. (1), [R] SA/USA).
struct DotScore {
  double beta;

  /// out[g][u] = β Σ_c q[g][c] · key_c[jj + u·kL ..] (β rounded to T): the scores of G queries
  /// against kChunks vectors of kL keys of a block (k × len array, see KeyTable). Every (g, u) sum
  /// runs over c in order, so the bits do not depend on G or kChunks. Each key load serves all
  /// G queries, and the G·kChunks independent chains hide the add latency of one chain, which
  /// bounded large-k scores (k = 64: one add per ~4 cycles).
  template <int kChunks, int G, class V, class T, int kStride>
  [[gnu::always_inline]] void chunks(const T* const* q, const T* block, Index k, Index len,
                                     Index jj, V (*out)[kStride]) const {
    static_assert(kChunks <= kStride);
    constexpr Index kL = kLanesOf<T>;
    V dot[G][kChunks] = {};
    for (Index c = 0; c < k; ++c) {
      const T* row = block + c * len + jj;
      V qc[G];
      for (int g = 0; g < G; ++g) qc[g] = simd::fill<V>(q[g][c]);
      for (int u = 0; u < kChunks; ++u) {
        const V key = simd::load<V>(row + u * kL);
        for (int g = 0; g < G; ++g) dot[g][u] = simd::mul_add(qc[g], key, dot[g][u]);
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

  /// out[g][u] = −β Σ_c (q[g][c] − key_c[jj + u·kL ..])² for G queries sharing each key load,
  /// in the same order for every G and kChunks (see DotScore).
  template <int kChunks, int G, class V, class T, int kStride>
  [[gnu::always_inline]] void chunks(const T* const* q, const T* block, Index k, Index len,
                                     Index jj, V (*out)[kStride]) const {
    static_assert(kChunks <= kStride);
    constexpr Index kL = kLanesOf<T>;
    V dist[G][kChunks] = {};
    for (Index c = 0; c < k; ++c) {
      const T* row = block + c * len + jj;
      for (int u = 0; u < kChunks; ++u) {
        const V key = simd::load<V>(row + u * kL);
        for (int g = 0; g < G; ++g) {
          const V diff = q[g][c] - key;
          dist[g][u] = simd::mul_add(diff, diff, dist[g][u]);
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int u = 0; u < kChunks; ++u) out[g][u] = dist[g][u] * -static_cast<T>(beta);
  }
};

}  // namespace attnflow
