#pragma once
// The one streaming reduction every attention kernel runs on (DESIGN "One engine, many kernels").
//
// For each query i it computes, without ever storing an N×N matrix,
//     s_ij = Score(q_i, k_j) (masked),  p_ij = Weighting(s_ij, w_j),
//     log Z_i = log Σ_j p_ij,            out_i = Normalization(Σ_j p_ij v_j)
// in blocks of keys (KeyTable::block, sized to stay in L1). Exponential weightings keep the online
// max / log-sum-exp of OnlineSoftmax, so that scores as large as β = 10⁴ stay finite. Memory is
// O((N_q + N_k)(k + dv)).
//
// Determinism: each query's reduction runs over the key blocks in order, with kLanes fixed partial
// sums combined in a fixed order, on one thread. Threads only decide which query blocks they own,
// so the result is bitwise the same for any thread count.
//
// Structure: attend_query_block() is the whole computation for one block of kQueryBlock queries;
// it is force-inlined into per-kernel functions that dispatch.cpp compiles for several instruction
// sets. for_each_query_block() distributes blocks over OpenMP threads.
#include <algorithm>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "attnflow/attention_tables.hpp"
#include "attnflow/online_softmax.hpp"
#include "attnflow/simd.hpp"

namespace attnflow {

/// Where the engine writes: per-query outputs (n_q × dv, may be null) and log Z_i (may be null).
struct AttentionOutput {
  double* values = nullptr;
  double* log_partition = nullptr;
};

/// Chunks of kLanes keys whose scores pass 1 forms together (independent accumulator chains).
inline constexpr int kScoreChunks = 4;

/// Per-thread work space of the engine (allocated once per parallel region).
struct BlockScratch {
  std::vector<double> s;
  std::vector<OnlineSoftmax> state;
  std::vector<double> lane_sum;
  /// kQueryBlock × dv × kLanes partial sums, left uninitialised: attend_query_block() zeroes the
  /// part it uses, and zero-filling it here as well cost a measurable share of small systems'
  /// evaluations (256 KiB per evaluation at d = 128).
  std::unique_ptr<double[]> lane_acc_storage;
  std::span<double> lane_acc;
  std::vector<double> acc;

  explicit BlockScratch(Index dv)
      : s(kKeyBlock),
        state(kQueryBlock),
        lane_sum(kQueryBlock * kLanes),
        lane_acc_storage(new double[static_cast<std::size_t>(kQueryBlock * dv * kLanes)]),
        lane_acc(lane_acc_storage.get(), static_cast<std::size_t>(kQueryBlock * dv * kLanes)),
        acc(static_cast<std::size_t>(dv)) {}
};

/// Number of value components the engine accumulates (0 when no values are wanted).
inline Index output_dimension(const KeyTable& keys, AttentionOutput out) {
  return out.values != nullptr ? keys.dv : 0;
}

/// Runs the reduction for queries [b·kQueryBlock, (b+1)·kQueryBlock) over all keys.
template <class Normalization, class Score, class Weighting, class Mask>
[[gnu::always_inline]] inline void attend_query_block(const QueryTable& queries,
                                                      const KeyTable& keys, const Score& score,
                                                      const Weighting& weighting, const Mask& mask,
                                                      AttentionOutput out, Index b,
                                                      BlockScratch& scratch) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const Index dv = output_dimension(keys, out);
  const Index i0 = b * kQueryBlock;
  const Index i1 = std::min(queries.n, i0 + kQueryBlock);
  double* s = scratch.s.data();
  double max_query_position = kNegInf;
  for (Index i = i0; i < i1; ++i)
    max_query_position = std::max(max_query_position, queries.position[i]);
  // Weightings without an exponential use the fixed shift m = 0.
  for (auto& st : scratch.state)
    st = Weighting::kOnlineMax ? OnlineSoftmax{} : OnlineSoftmax{0.0, 0.0};
  for (double& v : scratch.lane_sum) v = 0.0;
  for (Index c = 0; c < (i1 - i0) * dv * kLanes; ++c)
    scratch.lane_acc[static_cast<std::size_t>(c)] = 0.0;

  for (Index j0 = 0; j0 < keys.stride; j0 += keys.block) {
    const Index len = keys.block_length(j0);
    const Index j1 = j0 + len;
    if (!mask.block_visible(keys, j0, len, max_query_position)) continue;
    const double* key_block = keys.key_block(j0);
    const double* value_block = keys.value_block(j0);
    for (Index i = i0; i < i1; ++i) {
      const double* q = queries.query(i);
      const double query_position = queries.position[i];
      // Pass 1: masked, prepared scores of the block and their maximum. Scores are formed
      // kScoreChunks chunks at a time (the same operations per chunk, so the same bits), then
      // prepared and maximised chunk by chunk in key order.
      simd::v8d chunk_max = simd::broadcast(kNegInf);
      for (Index j = j0; j < j1;) {
        simd::v8d raw[kScoreChunks];
        int chunks = 1;
        if (j + kScoreChunks * kLanes <= j1) {
          score.template chunks<kScoreChunks>(q, key_block, keys.k, len, j - j0, raw);
          chunks = kScoreChunks;
        } else {
          raw[0] = score.chunk(q, key_block, keys.k, len, j - j0);
        }
        for (int u = 0; u < chunks; ++u, j += kLanes) {
          const simd::v8d sj = weighting.prepare(mask.apply(query_position, keys, j, raw[u]),
                                                 simd::load(keys.log_weight.data() + j));
          simd::store(s + (j - j0), sj);
          chunk_max = simd::max(chunk_max, sj);
        }
      }
      OnlineSoftmax& st = scratch.state[static_cast<std::size_t>(i - i0)];
      double* ls = scratch.lane_sum.data() + (i - i0) * kLanes;
      double* la = scratch.lane_acc.data() + (i - i0) * dv * kLanes;
      if constexpr (Weighting::kOnlineMax) {
        const double block_max = simd::horizontal_max(chunk_max);
        if (block_max == kNegInf) continue;
        if (block_max > st.max) {
          const double r = Weighting::rescale(st.max, block_max);
          for (Index l = 0; l < kLanes; ++l) ls[l] *= r;
          for (Index c = 0; c < dv * kLanes; ++c) la[c] *= r;
          st.max = block_max;
        }
      }
      // Pass 2: weights p_ij e^{−m} and their lane sums. Lane l of every partial sum accumulates
      // keys j ≡ l (mod kLanes), in key order.
      simd::v8d lane_sum = simd::load(ls);
      for (Index j = j0; j < j1; j += kLanes) {
        const simd::v8d p =
            weighting.weight(simd::load(s + (j - j0)), simd::load(keys.weight.data() + j), st.max);
        simd::store(s + (j - j0), p);
        lane_sum += p;
      }
      simd::store(ls, lane_sum);
      // Pass 3: Σ_j p_ij v_j, one value component at a time.
      for (Index c = 0; c < dv; ++c) {
        const double* v = value_block + c * len;
        simd::v8d a = simd::load(la + c * kLanes);
        for (Index jj = 0; jj < len; jj += kLanes) a += simd::load(s + jj) * simd::load(v + jj);
        simd::store(la + c * kLanes, a);
      }
    }
  }

  for (Index i = i0; i < i1; ++i) {
    OnlineSoftmax& st = scratch.state[static_cast<std::size_t>(i - i0)];
    const double* ls = scratch.lane_sum.data() + (i - i0) * kLanes;
    const double* la = scratch.lane_acc.data() + (i - i0) * dv * kLanes;
    st.sum = simd::horizontal_sum(simd::load(ls));
    for (Index c = 0; c < dv; ++c)
      scratch.acc[static_cast<std::size_t>(c)] = simd::horizontal_sum(simd::load(la + c * kLanes));
    if (out.values != nullptr)
      Normalization::finalize(st, scratch.acc.data(), dv, out.values + i * dv);
    if (out.log_partition != nullptr) out.log_partition[i] = st.log_partition();
  }
}

/// Calls block(b, scratch) for every query block, over OpenMP threads when the work is large.
template <class BlockFn>
void for_each_query_block(const QueryTable& queries, const KeyTable& keys, AttentionOutput out,
                          BlockFn&& block) {
  const Index dv = output_dimension(keys, out);
  const Index n_blocks = (queries.n + kQueryBlock - 1) / kQueryBlock;
  const bool parallel =
      n_blocks > 1 && queries.n * keys.stride * (keys.k + dv + 1) > kParallelPairWork;
#pragma omp parallel if (parallel)
  {
    BlockScratch scratch(dv);
#pragma omp for schedule(static)
    for (Index b = 0; b < n_blocks; ++b) block(b, scratch);
  }
}

/// Streams all keys past all queries (portable build of the engine; dispatch.cpp runs the same
/// code compiled for the machine's vector instructions).
template <class Normalization, class Score, class Weighting, class Mask>
void stream_attention(const QueryTable& queries, const KeyTable& keys, const Score& score,
                      const Weighting& weighting, const Mask& mask, AttentionOutput out) {
  for_each_query_block(queries, keys, out, [&](Index b, BlockScratch& scratch) {
    attend_query_block<Normalization>(queries, keys, score, weighting, mask, out, b, scratch);
  });
}

}  // namespace attnflow
