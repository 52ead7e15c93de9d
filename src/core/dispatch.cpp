#include "attnflow/dispatch.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

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

/// The arguments every block function takes (tables of scalars T).
template <class T>
struct BlockCall {
  const BasicQueryTable<T>& queries;
  const BasicKeyTable<T>& keys;
  AttentionOutput out;
  double beta;
  double exp_bias;
};

// Two functions per combination: `name` over float64 tables and `name_f32` over float32 tables
// (model.precision), the same engine instantiated for the two scalar types.
#define ATTNFLOW_BLOCK_FUNCTION(name, Normalization, score, weighting, Mask)                   \
  ATTNFLOW_SIMD_CLONES void name(const BlockCall<double>& c, Index b, BlockScratch& scratch) { \
    attend_query_block<Normalization>(c.queries, c.keys, score, weighting, Mask{}, c.out, b,   \
                                      scratch);                                                \
  }                                                                                            \
  ATTNFLOW_SIMD_CLONES void name##_f32(const BlockCall<float>& c, Index b,                     \
                                       BasicBlockScratch<float>& scratch) {                    \
    attend_query_block<Normalization>(c.queries, c.keys, score, weighting, Mask{}, c.out, b,   \
                                      scratch);                                                \
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

template <class T>
using BlockFunction = void (*)(const BlockCall<T>&, Index, BasicBlockScratch<T>&);

template <class T>
void run_blocks(BlockFunction<T> fn, const BlockCall<T>& call) {
  for_each_query_block(call.queries, call.keys, call.out,
                       [&](Index b, BasicBlockScratch<T>& scratch) { fn(call, b, scratch); });
}

/// The block function of a kernel and mask for tables of T.
template <class T>
BlockFunction<T> block_function(KernelKind kind, bool causal) {
#define ATTNFLOW_PICK(name)                 \
  [] {                                      \
    if constexpr (std::is_same_v<T, float>) \
      return &name##_f32;                   \
    else                                    \
      return &name;                         \
  }()
  switch (kind) {
    case KernelKind::softmax:
    case KernelKind::sinkhorn:
      return causal ? ATTNFLOW_PICK(softmax_causal) : ATTNFLOW_PICK(softmax_full);
    case KernelKind::usa:
      return causal ? ATTNFLOW_PICK(usa_causal) : ATTNFLOW_PICK(usa_full);
    case KernelKind::l2:
      return causal ? ATTNFLOW_PICK(l2_causal) : ATTNFLOW_PICK(l2_full);
    case KernelKind::sigmoid:
      return causal ? ATTNFLOW_PICK(sigmoid_causal) : ATTNFLOW_PICK(sigmoid_full);
    case KernelKind::hardmax:
      return causal ? ATTNFLOW_PICK(hardmax_causal) : ATTNFLOW_PICK(hardmax_full);
  }
#undef ATTNFLOW_PICK
  throw std::logic_error("attend: kernel " + std::to_string(static_cast<int>(kind)) +
                         " is not registered");
}

template <class T>
void attend_tables(const KernelSettings& kernel, const BasicQueryTable<T>& queries,
                   const BasicKeyTable<T>& keys, AttentionOutput out) {
  const BlockCall<T> call{queries, keys, out, kernel.beta, std::exp(kernel.sigmoid_bias)};
  run_blocks(block_function<T>(kernel.kind, kernel.causal), call);
}

}  // namespace

void attend(const KernelSettings& kernel, const QueryTable& queries, const KeyTable& keys,
            AttentionOutput out) {
  attend_tables(kernel, queries, keys, out);
}

void attend(const KernelSettings& kernel, const QueryTable32& queries, const KeyTable32& keys,
            AttentionOutput out) {
  attend_tables(kernel, queries, keys, out);
}

void attend_unnormalized(bool causal, double beta, const QueryTable& queries, const KeyTable& keys,
                         AttentionOutput out) {
  run_blocks<double>(causal ? usa_causal : usa_full,
                     BlockCall<double>{queries, keys, out, beta, 1.0});
}

}  // namespace attnflow
