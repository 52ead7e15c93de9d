#include "attnflow/dispatch.hpp"

#include <cmath>

#include "attnflow/mask.hpp"
#include "attnflow/normalization.hpp"
#include "attnflow/score.hpp"
#include "attnflow/weighting.hpp"

namespace attnflow {

namespace {

template <class Normalization, class Score, class Weighting>
void with_mask(bool causal, const QueryTable& q, const KeyTable& k, const Score& score,
               const Weighting& weighting, AttentionOutput out) {
  if (causal)
    stream_attention<Normalization>(q, k, score, weighting, CausalMask{}, out);
  else
    stream_attention<Normalization>(q, k, score, weighting, FullMask{}, out);
}

}  // namespace

void attend(const KernelSettings& kernel, const QueryTable& queries, const KeyTable& keys,
            AttentionOutput out) {
  const DotScore dot{kernel.beta};
  switch (kernel.kind) {
    case KernelKind::softmax:
    case KernelKind::sinkhorn:
      with_mask<RowSoftmax>(kernel.causal, queries, keys, dot, ExpWeights{}, out);
      return;
    case KernelKind::usa:
      with_mask<RowSum>(kernel.causal, queries, keys, dot, ExpWeights{}, out);
      return;
    case KernelKind::l2:
      with_mask<RowSoftmax>(kernel.causal, queries, keys, L2Score{kernel.beta}, ExpWeights{}, out);
      return;
    case KernelKind::sigmoid:
      with_mask<RowSum>(kernel.causal, queries, keys, dot, SigmoidWeights{std::exp(kernel.sigmoid_bias)}, out);
      return;
    case KernelKind::hardmax:
      with_mask<RowSoftmax>(kernel.causal, queries, keys, dot, HardmaxWeights{}, out);
      return;
  }
}

void attend_unnormalized(bool causal, double beta, const QueryTable& queries, const KeyTable& keys,
                         AttentionOutput out) {
  with_mask<RowSum>(causal, queries, keys, DotScore{beta}, ExpWeights{}, out);
}

}  // namespace attnflow
