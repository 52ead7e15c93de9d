#pragma once
// Turns the run-time choice (kernel, mask) into the compile-time policies of the engine. This is
// the only place that lists the combinations; a new kernel adds one case here and its registry
// entry.
#include "attnflow/model.hpp"
#include "attnflow/stream_attention.hpp"

namespace attnflow {

/// What one streaming pass needs to know about the kernel.
struct KernelSettings {
  KernelKind kind = KernelKind::softmax;
  bool causal = false;
  double beta = 1.0;
  double sigmoid_bias = 0.0;  ///< resolved bias (sigmoid only)
};

/// Runs the streaming engine for one head. For sinkhorn this is the final row normalisation: the
/// caller has folded the column potentials g_j into keys.log_weight (sinkhorn.hpp).
void attend(const KernelSettings& kernel, const QueryTable& queries, const KeyTable& keys,
            AttentionOutput out);

/// The same over float32 tables (model.precision = "float32"): scores, exponentials and the sums
/// over stretches of keys in float, the running maximum, the sums across stretches and the
/// outputs in double (stream_attention.hpp, Accumulation).
void attend(const KernelSettings& kernel, const QueryTable32& queries, const KeyTable32& keys,
            AttentionOutput out);

/// Σ_j w_j e^{β⟨q_i,k_j⟩} u_j (unnormalised, whatever the model's kernel) and/or log Z_i: the
/// reductions energies, gradients and Sinkhorn potentials need.
void attend_unnormalized(bool causal, double beta, const QueryTable& queries, const KeyTable& keys,
                         AttentionOutput out);

}  // namespace attnflow
