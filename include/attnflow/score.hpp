#pragma once
// Score policies: how s_ij is formed from a query and a key (DESIGN principle 2). A policy fills a
// block of scores for one query; the engine adds log-masses, masks and exponentiates.
#include "attnflow/attention_tables.hpp"

namespace attnflow {

/// s_ij = β ⟨q_i, k_j⟩: dot-product attention ([C] eq. (1), [R] SA/USA).
struct DotScore {
  double beta;

  /// s[j] = β⟨q, k_{j0+j}⟩ for j < len (len a multiple of kLanes).
  void block(const double* q, const KeyTable& keys, Index j0, Index len, double* s) const {
    for (Index j = 0; j < len; ++j) s[j] = 0.0;
    for (Index c = 0; c < keys.k; ++c) {
      const double qc = q[c];
      const double* kc = keys.key_row(c) + j0;
      for (Index j = 0; j < len; ++j) s[j] += qc * kc[j];
    }
    for (Index j = 0; j < len; ++j) s[j] *= beta;
  }
};

/// s_ij = −β ‖q_i − k_j‖²: L2 self-attention ([C] §L2, Kim et al. 2021). With β = 1/√(k) and
/// Q = K this is Kim et al.'s Lipschitz L2 attention (their scale √(D/H) is attnflow's 1/β).
struct L2Score {
  double beta;

  void block(const double* q, const KeyTable& keys, Index j0, Index len, double* s) const {
    for (Index j = 0; j < len; ++j) s[j] = 0.0;
    for (Index c = 0; c < keys.k; ++c) {
      const double qc = q[c];
      const double* kc = keys.key_row(c) + j0;
      for (Index j = 0; j < len; ++j) {
        const double diff = qc - kc[j];
        s[j] += diff * diff;
      }
    }
    for (Index j = 0; j < len; ++j) s[j] *= -beta;
  }
};

}  // namespace attnflow
