#include "attnflow/dispatch.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "attnflow/mask.hpp"
#include "attnflow/normalization.hpp"
#include "attnflow/score.hpp"
#include "attnflow/weighting.hpp"

// Every kernel × mask combination gets one function that processes a block of queries, compiled by
// GCC's target_clones for AVX-512, AVX2+FMA and the baseline; the dynamic loader picks the best
// for the CPU at hand, so one binary runs everywhere at the machine's vector width. The engine's
// loops (attend_query_block and the policies) are force-inlined into each clone. The OpenMP region
// lives outside the clones (its outlined body would not be cloned). No floating-point contraction
// happens (-std=c++20 implies -ffp-contract=off) and reductions have fixed lanes, so the clones
// compute the same numbers.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ATTNFLOW_SIMD_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define ATTNFLOW_SIMD_CLONES
#endif

namespace attnflow {

namespace {

/// The arguments every block function takes.
struct BlockCall {
  const QueryTable& queries;
  const KeyTable& keys;
  AttentionOutput out;
  double beta;
  double exp_bias;
};

#define ATTNFLOW_BLOCK_FUNCTION(name, Normalization, score, weighting, Mask)                 \
  ATTNFLOW_SIMD_CLONES void name(const BlockCall& c, Index b, BlockScratch& scratch) {       \
    attend_query_block<Normalization>(c.queries, c.keys, score, weighting, Mask{}, c.out, b, \
                                      scratch);                                              \
  }

ATTNFLOW_BLOCK_FUNCTION(softmax_full, RowSoftmax, DotScore{c.beta}, ExpWeights{}, FullMask)
ATTNFLOW_BLOCK_FUNCTION(softmax_causal, RowSoftmax, DotScore{c.beta}, ExpWeights{}, CausalMask)
ATTNFLOW_BLOCK_FUNCTION(usa_full, RowSum, DotScore{c.beta}, ExpWeights{}, FullMask)
ATTNFLOW_BLOCK_FUNCTION(usa_causal, RowSum, DotScore{c.beta}, ExpWeights{}, CausalMask)
ATTNFLOW_BLOCK_FUNCTION(l2_full, RowSoftmax, L2Score{c.beta}, ExpWeights{}, FullMask)
ATTNFLOW_BLOCK_FUNCTION(l2_causal, RowSoftmax, L2Score{c.beta}, ExpWeights{}, CausalMask)
ATTNFLOW_BLOCK_FUNCTION(sigmoid_full, RowSum, DotScore{c.beta}, SigmoidWeights{c.exp_bias},
                        FullMask)
ATTNFLOW_BLOCK_FUNCTION(sigmoid_causal, RowSum, DotScore{c.beta}, SigmoidWeights{c.exp_bias},
                        CausalMask)
ATTNFLOW_BLOCK_FUNCTION(hardmax_full, RowSoftmax, DotScore{c.beta}, HardmaxWeights{}, FullMask)
ATTNFLOW_BLOCK_FUNCTION(hardmax_causal, RowSoftmax, DotScore{c.beta}, HardmaxWeights{}, CausalMask)

#undef ATTNFLOW_BLOCK_FUNCTION

using BlockFunction = void (*)(const BlockCall&, Index, BlockScratch&);

void run_blocks(BlockFunction fn, const BlockCall& call) {
  for_each_query_block(call.queries, call.keys, call.out,
                       [&](Index b, BlockScratch& scratch) { fn(call, b, scratch); });
}

}  // namespace

void attend(const KernelSettings& kernel, const QueryTable& queries, const KeyTable& keys,
            AttentionOutput out) {
  const BlockCall call{queries, keys, out, kernel.beta, std::exp(kernel.sigmoid_bias)};
  const bool c = kernel.causal;
  switch (kernel.kind) {
    case KernelKind::softmax:
    case KernelKind::sinkhorn:
      return run_blocks(c ? softmax_causal : softmax_full, call);
    case KernelKind::usa:
      return run_blocks(c ? usa_causal : usa_full, call);
    case KernelKind::l2:
      return run_blocks(c ? l2_causal : l2_full, call);
    case KernelKind::sigmoid:
      return run_blocks(c ? sigmoid_causal : sigmoid_full, call);
    case KernelKind::hardmax:
      return run_blocks(c ? hardmax_causal : hardmax_full, call);
  }
  throw std::logic_error("attend: kernel " + std::to_string(static_cast<int>(kernel.kind)) +
                         " is not registered");
}

void attend_unnormalized(bool causal, double beta, const QueryTable& queries, const KeyTable& keys,
                         AttentionOutput out) {
  run_blocks(causal ? usa_causal : usa_full, BlockCall{queries, keys, out, beta, 1.0});
}

}  // namespace attnflow
