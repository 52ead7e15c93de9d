#include "attnflow/dispatch.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "attnflow/mask.hpp"
#include "attnflow/normalization.hpp"
#include "attnflow/score.hpp"
#include "attnflow/simd.hpp"
#include "attnflow/simd_dispatch.hpp"
#include "attnflow/weighting.hpp"

// Every kernel × mask combination gets one function per vector width that processes a block of
// queries: compiled for AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and the baseline, each with
// its width's vectors (simd::Width512 / Width256 / Width128); active_simd_width() picks one at run
// time, so one binary runs everywhere at the machine's vector width. The engine's loops
// (attend_query_block and the policies) are force-inlined into each. The OpenMP region lives
// outside them. The compiler contracts nothing (-ffp-contract=off); the engine's multiply-adds are
// explicit (simd::mul_add: fused at AVX-512 and AVX2, unfused at SSE2) and its reductions have
// fixed lanes, so AVX-512 and AVX2 compute the same bits and SSE2 the same to round-off
// (tests/unit/test_simd_widths.cpp).
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

// Six functions per combination: name_<width> over float64 tables and name_<width>_f32 over float32
// tables (model.precision), the same engine instantiated for the two scalar types.
#define ATTNFLOW_BLOCK_FUNCTION_AT(target, Width, suffix, name, Normalization, score, weighting, \
                                   Mask)                                                         \
  target void name##suffix(const BlockCall<double>& c, Index b, BlockScratch& scratch) {         \
    attend_query_block<Normalization, simd::Width>(c.queries, c.keys, score, weighting, Mask{},  \
                                                   c.out, b, scratch);                           \
  }                                                                                              \
  target void name##suffix##_f32(const BlockCall<float>& c, Index b,                             \
                                 BasicBlockScratch<float>& scratch) {                            \
    attend_query_block<Normalization, simd::Width>(c.queries, c.keys, score, weighting, Mask{},  \
                                                   c.out, b, scratch);                           \
  }
#define ATTNFLOW_BLOCK_FUNCTION(...)                                           \
  ATTNFLOW_BLOCK_FUNCTION_AT(ATTNFLOW_TARGET_512, Width512, _512, __VA_ARGS__) \
  ATTNFLOW_BLOCK_FUNCTION_AT(ATTNFLOW_TARGET_256, Width256, _256, __VA_ARGS__) \
  ATTNFLOW_BLOCK_FUNCTION_AT(, Width128, _128, __VA_ARGS__)

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
#undef ATTNFLOW_BLOCK_FUNCTION_AT

template <class T>
using BlockFunction = void (*)(const BlockCall<T>&, Index, BasicBlockScratch<T>&);

template <class T>
void run_blocks(BlockFunction<T> fn, const BlockCall<T>& call) {
  for_each_query_block(call.queries, call.keys, call.out,
                       [&](Index b, BasicBlockScratch<T>& scratch) { fn(call, b, scratch); });
}

/// The block function of a kernel and mask for tables of T at the active vector width.
template <class T>
BlockFunction<T> block_function(KernelKind kind, bool causal) {
  const SimdWidth width = active_simd_width();
#define ATTNFLOW_PICK(name)                                                                       \
  [width] {                                                                                       \
    if constexpr (std::is_same_v<T, float>)                                                       \
      return pick_width<BlockFunction<T>>(width, name##_512_f32, name##_256_f32, name##_128_f32); \
    else                                                                                          \
      return pick_width<BlockFunction<T>>(width, name##_512, name##_256, name##_128);             \
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
  run_blocks(block_function<double>(KernelKind::usa, causal),
             BlockCall<double>{queries, keys, out, beta, 1.0});
}

}  // namespace attnflow
