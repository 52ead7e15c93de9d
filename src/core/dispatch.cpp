#include "attnflow/dispatch.hpp"

#include "attnflow/mask.hpp"
#include "attnflow/normalization.hpp"
#include "attnflow/score.hpp"

namespace attnflow {

namespace {

template <class Normalization, class Score>
void with_mask(bool causal, const QueryTable& q, const KeyTable& k, const Score& score,
               AttentionOutput out) {
  if (causal)
    stream_attention<Normalization>(q, k, score, CausalMask{}, out);
  else
    stream_attention<Normalization>(q, k, score, FullMask{}, out);
}

}  // namespace

void attend(KernelKind kernel, bool causal, double beta, const QueryTable& queries,
            const KeyTable& keys, AttentionOutput out) {
  switch (kernel) {
    case KernelKind::softmax:
      with_mask<RowSoftmax>(causal, queries, keys, DotScore{beta}, out);
      return;
    case KernelKind::usa:
      with_mask<RowSum>(causal, queries, keys, DotScore{beta}, out);
      return;
  }
}

void attend_unnormalized(bool causal, double beta, const QueryTable& queries, const KeyTable& keys,
                         AttentionOutput out) {
  with_mask<RowSum>(causal, queries, keys, DotScore{beta}, out);
}

}  // namespace attnflow
