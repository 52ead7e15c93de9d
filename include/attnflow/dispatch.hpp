#pragma once
// Turns the run-time choice (kernel, mask) into the compile-time policies of the engine. This is
// the only place that lists the combinations; a new kernel adds one case here and its registry entry.
#include "attnflow/model.hpp"
#include "attnflow/stream_attention.hpp"

namespace attnflow {

/// Runs the streaming engine for one head with the model's kernel, β and mask.
void attend(KernelKind kernel, bool causal, double beta, const QueryTable& queries,
            const KeyTable& keys, AttentionOutput out);

/// Σ_j w_j e^{β⟨q_i,k_j⟩} u_j (unnormalised, whatever the model's kernel) and/or log Z_i: the
/// reductions energies and their gradients need.
void attend_unnormalized(bool causal, double beta, const QueryTable& queries, const KeyTable& keys,
                         AttentionOutput out);

}  // namespace attnflow
