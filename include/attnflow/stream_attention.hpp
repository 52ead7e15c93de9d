#pragma once
// The one streaming reduction every attention kernel runs on (DESIGN "One engine, many kernels").
//
// For each query i it computes, without ever storing an N×N matrix,
//     s_ij = Score(q_i, k_j) (masked),  p_ij = Weighting(s_ij, w_j),
//     log Z_i = log Σ_j p_ij,            out_i = Normalization(Σ_j p_ij v_j)
// in blocks of keys (KeyTable::block, sized to stay in L2). Exponential weightings keep the online
// max / log-sum-exp of OnlineSoftmax, so that scores as large as β = 10⁴ stay finite. Memory is
// O((N_q + N_k)(k + dv)).
//
// Precision: the tables hold doubles (the default) or floats (model.precision = "float32"); scores,
// exponentials and the sums over a stretch of keys are then formed in float, while the running
// maximum, the sums across stretches and the outputs stay double (Accumulation).
//
// Determinism: each query's reduction runs over the key blocks in order, with kLanesOf<T> fixed
// partial sums combined in a fixed order, on one thread. Threads only decide which query blocks
// they own, so the result is bitwise the same for any thread count.
//
// Structure: attend_query_block() is the whole computation for one block of kQueryBlockOf<T>
// queries; it is force-inlined into per-kernel functions that dispatch.cpp compiles for each vector
// width (simd_dispatch.hpp). for_each_query_block() distributes blocks over OpenMP threads.
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

/// The most queries that share the key and value loads of one block (see attend_query_block);
/// each width (simd.hpp) picks its own group size, chunk count and value-component block so that
/// its accumulators fit its registers. None of them changes a bit of the result.
inline constexpr int kMaxQueryGroup = 4;

/// How the per-query sums Σ_j p_ij and Σ_j p_ij v_j are accumulated by an engine over tables of
/// scalars T (the accumulator policy of the precision).
///  * double: the lane sums are the state itself, across all key blocks (kWidened = false).
///  * float: the lanes accumulate in float only over kFlushKeys consecutive keys (kFlushKeys /
///    16 terms per lane), then are added into double lanes, which hold the state across blocks
///    together with OnlineSoftmax's (max, sum) and produce the outputs. Float sums over all N keys
///    would carry a rounding error growing like N/16 · 2⁻²⁴ (6·10⁻⁵ at N = 16384 in the worst
///    case); flushed, the float part is bounded by the flush length and the double part is exact
///    to float accuracy for any N, at a cost of one widening add per lane every kFlushKeys keys.
///    The lanes are also flushed before every rescale of the running maximum, so float partials
///    never carry a rescale rounding.
template <class T>
struct Accumulation {
  static constexpr bool kWidened = false;
  static constexpr Index kFlushKeys = 512;
};
template <>
struct Accumulation<float> {
  static constexpr bool kWidened = true;
  static constexpr Index kFlushKeys = 512;
};

/// Per-thread work space of the engine over tables of T (allocated once per parallel region).
template <class T>
struct BasicBlockScratch {
  static constexpr Index kL = kLanesOf<T>;
  Index dv;  ///< the value components it was sized for
  std::vector<T> s;
  std::vector<OnlineSoftmax> state;
  std::vector<T> lane_sum;
  /// Per query of the block: its lane_acc holds nothing yet (anything may be stored there), so
  /// its first contribution is stored, not added. The float64 engine sets it at the start of a
  /// block; the float32 engine zero-fills lane_acc and leaves it clear.
  std::vector<unsigned char> fresh;
  /// kQueryBlockOf<T> × dv × kL partial sums, left uninitialised. The float64 engine never zeroes
  /// them: a query's first contribution stores its products instead of adding them (zero-filling
  /// 256 KiB per evaluation at d = 128, then rescaling those zeros by 0 at the first block,
  /// cost ~10 % of small systems' evaluations). The float32 engine zeroes the part it uses.
  std::unique_ptr<T[]> lane_acc_storage;
  std::span<T> lane_acc;
  /// Accumulation<T>::kWidened: the double lanes the partials are flushed into (else empty).
  std::vector<double> wide_sum;
  std::unique_ptr<double[]> wide_acc_storage;
  std::span<double> wide_acc;
  std::vector<double> acc;

  explicit BasicBlockScratch(Index dv_)
      : dv(dv_),
        s(kMaxQueryGroup * kKeyBlock),
        state(kQueryBlockOf<T>),
        lane_sum(kQueryBlockOf<T> * kL),
        fresh(kQueryBlockOf<T>),
        lane_acc_storage(new T[static_cast<std::size_t>(kQueryBlockOf<T> * dv * kL)]),
        lane_acc(lane_acc_storage.get(), static_cast<std::size_t>(kQueryBlockOf<T> * dv * kL)),
        acc(static_cast<std::size_t>(dv)) {
    if constexpr (Accumulation<T>::kWidened) {
      const auto wide = static_cast<std::size_t>(kQueryBlockOf<T> * dv * kL);
      wide_sum.resize(static_cast<std::size_t>(kQueryBlockOf<T> * kL));
      wide_acc_storage.reset(new double[wide]);
      wide_acc = std::span<double>(wide_acc_storage.get(), wide);
    }
  }
};
/// The float64 engine's work space.
using BlockScratch = BasicBlockScratch<double>;

/// Number of value components the engine accumulates (0 when no values are wanted).
template <class T>
inline Index output_dimension(const BasicKeyTable<T>& keys, AttentionOutput out) {
  return out.values != nullptr ? keys.dv : 0;
}

/// Adds n partial lanes into the wide lanes and zeroes them (Accumulation<float>).
template <class T>
[[gnu::always_inline]] inline void flush_lanes(T* partial, double* wide, Index n) {
  for (Index c = 0; c < n; ++c) {
    wide[c] += static_cast<double>(partial[c]);
    partial[c] = T{0};
  }
}

/// acc[g][(c + r)·kL ..] += Σ_jj p[g][jj..] · v_{c+r}[jj..] for r < R over the block's len keys
/// and G queries, in one pass over the keys: G·R independent accumulator chains (one chain is
/// bound by the multiply-add latency). kFresh: acc holds nothing yet and the sums start from zero
/// instead (the same bits as from a zero-filled acc).
template <int G, int R, class V, bool kFresh, class T>
[[gnu::always_inline]] inline void accumulate_components(T* const* p, const T* value_block,
                                                         Index len, Index c, T* const* acc) {
  constexpr Index kL = kLanesOf<T>;
  const T* v = value_block + c * len;
  V a[G][R];
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < R; ++r) a[g][r] = kFresh ? V{} : simd::load<V>(acc[g] + (c + r) * kL);
  for (Index jj = 0; jj < len; jj += kL) {
    V vr[R];
    for (int r = 0; r < R; ++r) vr[r] = simd::load<V>(v + r * len + jj);
    for (int g = 0; g < G; ++g) {
      const V pg = simd::load<V>(p[g] + jj);
      for (int r = 0; r < R; ++r) a[g][r] = simd::mul_add(pg, vr[r], a[g][r]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < R; ++r) simd::store(acc[g] + (c + r) * kL, a[g][r]);
}

/// acc[g][c·kL .. c·kL + kL) += Σ_jj p[g][jj..] · v_c[jj..] over the block's len keys, for G
/// queries and every value component c (value block layout: component-major, `len` per row), in
/// vectors V of scalars T: R components at a time, then the remaining dv mod R together (at
/// d = 3 one component per pass left three latency-bound chains per query). Every (query,
/// component) sum runs over its keys in key order, whatever G and R.
template <int G, int R, class V, bool kFresh, class T>
[[gnu::always_inline]] inline void accumulate_values(T* const* p, const T* value_block, Index len,
                                                     Index dv, T* const* acc) {
  static_assert(R >= 1 && R <= 4, "the remainder cases below cover R ≤ 4");
  Index c = 0;
  for (; c + R <= dv; c += R) accumulate_components<G, R, V, kFresh>(p, value_block, len, c, acc);
  switch (dv - c) {
    case 0:
      break;
    case 1:
      accumulate_components<G, 1, V, kFresh>(p, value_block, len, c, acc);
      break;
    case 2:
      if constexpr (R > 2) accumulate_components<G, 2, V, kFresh>(p, value_block, len, c, acc);
      break;
    default:
      if constexpr (R > 3) accumulate_components<G, 3, V, kFresh>(p, value_block, len, c, acc);
      break;
  }
}

/// Runs the reduction for queries [b·kQueryBlockOf<T>, (b+1)·kQueryBlockOf<T>) over all keys, in
/// the vectors of Width (simd::Width512, Width256 or Width128: the same bits at every width).
template <class Normalization, class Width, class T, class Score, class Weighting, class Mask>
[[gnu::always_inline]] inline void attend_query_block(const BasicQueryTable<T>& queries,
                                                      const BasicKeyTable<T>& keys,
                                                      const Score& score,
                                                      const Weighting& weighting, const Mask& mask,
                                                      AttentionOutput out, Index b,
                                                      BasicBlockScratch<T>& scratch) {
  using V = typename Width::template vec<T>;
  constexpr int kQueryGroup = Width::kQueryGroup;
  constexpr int kScoreChunks = Width::kScoreChunks;
  constexpr int kValueComponents = Width::kValueComponents;
  static_assert(kQueryGroup <= kMaxQueryGroup);
  constexpr Index kL = kLanesOf<T>;
  constexpr bool kWidened = Accumulation<T>::kWidened;
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const Index dv = output_dimension(keys, out);
  const Index i0 = b * kQueryBlockOf<T>;
  const Index i1 = std::min(queries.n, i0 + kQueryBlockOf<T>);
  T* s = scratch.s.data();
  double max_query_position = kNegInf;
  for (Index i = i0; i < i1; ++i)
    max_query_position = std::max(max_query_position, queries.position[i]);
  // Weightings without an exponential use the fixed shift m = 0.
  for (auto& st : scratch.state)
    st = Weighting::kOnlineMax ? OnlineSoftmax{} : OnlineSoftmax{0.0, 0.0};
  for (T& v : scratch.lane_sum) v = T{0};
  for (unsigned char& f : scratch.fresh) f = kWidened ? 0 : 1;
  if constexpr (kWidened) {
    for (Index c = 0; c < (i1 - i0) * dv * kL; ++c)
      scratch.lane_acc[static_cast<std::size_t>(c)] = T{0};
    for (double& v : scratch.wide_sum) v = 0.0;
    for (Index c = 0; c < (i1 - i0) * dv * kL; ++c)
      scratch.wide_acc[static_cast<std::size_t>(c)] = 0.0;
  }
  // Accumulation<float>: the partial lanes of every query of the block into its double lanes.
  auto flush_all = [&] {
    if constexpr (kWidened) {
      flush_lanes(scratch.lane_sum.data(), scratch.wide_sum.data(), (i1 - i0) * kL);
      flush_lanes(scratch.lane_acc.data(), scratch.wide_acc.data(), (i1 - i0) * dv * kL);
    }
  };

  for (Index j0 = 0; j0 < keys.stride; j0 += keys.block) {
    const Index len = keys.block_length(j0);
    const Index j1 = j0 + len;
    if constexpr (kWidened) {
      // Flush points depend on the key index only (never on threads): every kFlushKeys keys.
      if (j0 > 0 && j0 % Accumulation<T>::kFlushKeys == 0) flush_all();
    }
    if (!mask.block_visible(keys, j0, len, max_query_position)) continue;
    const T* key_block = keys.key_block(j0);
    const T* value_block = keys.value_block(j0);
    // G consecutive queries at a time (kQueryGroup, then 1 for the rest): pass 1 loads each key
    // once for all G, pass 3 each value once; every query's own operations and their order are
    // those of G = 1, so the bits do not depend on G.
    // (Force-inlined: a lambda is a function of its own, which would otherwise be compiled for
    // the default target instead of the width's instruction set.)
    auto attend_group = [&]<int G>(Index ig) __attribute__((always_inline)) {
      const T* q[G];
      double query_position[G];
      T* sg[G];
      V chunk_max[G];
      for (int g = 0; g < G; ++g) {
        q[g] = queries.query(ig + g);
        query_position[g] = queries.position[ig + g];
        sg[g] = s + g * kKeyBlock;
        chunk_max[g] = simd::fill<V>(kNegInf);
      }
      // Pass 1: masked, prepared scores of the block and their maximum. Scores are formed
      // kScoreChunks (or 2) chunks at a time (the same operations per chunk, so the same bits),
      // then prepared and maximised chunk by chunk in key order.
      for (Index j = j0; j < j1;) {
        V raw[G][kScoreChunks];
        int chunks = 1;
        if (j + kScoreChunks * kL <= j1) {
          score.template chunks<kScoreChunks, G, V>(q, key_block, keys.k, len, j - j0, raw);
          chunks = kScoreChunks;
        } else if (j + 2 * kL <= j1) {
          score.template chunks<2, G, V>(q, key_block, keys.k, len, j - j0, raw);
          chunks = 2;
        } else {
          score.template chunks<1, G, V>(q, key_block, keys.k, len, j - j0, raw);
        }
        for (int u = 0; u < chunks; ++u, j += kL) {
          const V log_weight = simd::load<V>(keys.log_weight.data() + j);
          for (int g = 0; g < G; ++g) {
            const V sj =
                weighting.prepare(mask.apply(query_position[g], keys, j, raw[g][u]), log_weight);
            simd::store(sg[g] + (j - j0), sj);
            chunk_max[g] = simd::max(chunk_max[g], sj);
          }
        }
      }
      bool active[G];
      T* la[G];
      for (int g = 0; g < G; ++g) {
        const Index i = ig + g;
        OnlineSoftmax& st = scratch.state[static_cast<std::size_t>(i - i0)];
        T* ls = scratch.lane_sum.data() + (i - i0) * kL;
        la[g] = scratch.lane_acc.data() + (i - i0) * dv * kL;
        active[g] = true;
        if constexpr (Weighting::kOnlineMax) {
          const double block_max = simd::horizontal_max(chunk_max[g]);
          if (block_max == kNegInf) {
            active[g] = false;
            continue;
          }
          if (block_max > st.max) {
            const double r = Weighting::rescale(st.max, block_max);
            if constexpr (kWidened) {
              // The partials (relative to the old maximum) join the double lanes first.
              double* ws = scratch.wide_sum.data() + (i - i0) * kL;
              double* wa = scratch.wide_acc.data() + (i - i0) * dv * kL;
              flush_lanes(ls, ws, kL);
              flush_lanes(la[g], wa, dv * kL);
              for (Index l = 0; l < kL; ++l) ws[l] *= r;
              for (Index c = 0; c < dv * kL; ++c) wa[c] *= r;
            } else {
              for (Index l = 0; l < kL; ++l) ls[l] *= r;
              if (!scratch.fresh[static_cast<std::size_t>(i - i0)])
                for (Index c = 0; c < dv * kL; ++c) la[g][c] *= r;
            }
            st.max = block_max;
          }
        }
        // Pass 2: weights p_ij e^{−m} and their lane sums. Lane l of every partial sum
        // accumulates keys j ≡ l (mod kL), in key order. Four vectors of weights are formed
        // before they are summed: their exponentials are independent chains of ~16 dependent
        // multiply-adds, which one at a time left the pipes waiting on latency.
        V lane_sum = simd::load<V>(ls);
        auto weight_at = [&](Index j) __attribute__((always_inline)) {
          const V p = weighting.weight(simd::load<V>(sg[g] + (j - j0)),
                                       simd::load<V>(keys.weight.data() + j), st.max);
          simd::store(sg[g] + (j - j0), p);
          return p;
        };
        Index j = j0;
        for (; j + 4 * kL <= j1; j += 4 * kL) {
          const V p0 = weight_at(j), p1 = weight_at(j + kL);
          const V p2 = weight_at(j + 2 * kL), p3 = weight_at(j + 3 * kL);
          lane_sum += p0;
          lane_sum += p1;
          lane_sum += p2;
          lane_sum += p3;
        }
        for (; j < j1; j += kL) lane_sum += weight_at(j);
        simd::store(ls, lane_sum);
      }
      // Pass 3: Σ_j p_ij v_j, kValueComponents components at a time for all G queries: each load
      // of v serves G queries, each load of p kValueComponents components, and G ×
      // kValueComponents multiply-add chains run side by side (one chain was bound by the
      // latency at large dv). Every (query, component) sum still runs over its keys in order.
      unsigned char* fresh = scratch.fresh.data() + (ig - i0);
      bool all_active = true, all_fresh = true, none_fresh = true;
      for (int g = 0; g < G; ++g) {
        all_active = all_active && active[g];
        all_fresh = all_fresh && fresh[g];
        none_fresh = none_fresh && !fresh[g];
      }
      if (all_active && none_fresh) {
        accumulate_values<G, kValueComponents, V, false>(sg, value_block, len, dv, la);
      } else if (all_active && all_fresh) {
        accumulate_values<G, kValueComponents, V, true>(sg, value_block, len, dv, la);
      } else {
        for (int g = 0; g < G; ++g) {
          if (!active[g]) continue;
          if (fresh[g])
            accumulate_values<1, kValueComponents, V, true>(&sg[g], value_block, len, dv, &la[g]);
          else
            accumulate_values<1, kValueComponents, V, false>(&sg[g], value_block, len, dv, &la[g]);
        }
      }
      for (int g = 0; g < G; ++g)
        if (active[g]) fresh[g] = 0;
    };
    Index i = i0;
    for (; i + kQueryGroup <= i1; i += kQueryGroup)
      attend_group.template operator()<kQueryGroup>(i);
    for (; i < i1; ++i) attend_group.template operator()<1>(i);
  }
  flush_all();

  for (Index i = i0; i < i1; ++i) {
    OnlineSoftmax& st = scratch.state[static_cast<std::size_t>(i - i0)];
    if constexpr (kWidened) {
      // Σ of the double lanes in index order.
      auto lane_total = [](const double* lanes) {
        double total = lanes[0];
        for (Index l = 1; l < kL; ++l) total += lanes[l];
        return total;
      };
      st.sum = lane_total(scratch.wide_sum.data() + (i - i0) * kL);
      const double* wa = scratch.wide_acc.data() + (i - i0) * dv * kL;
      for (Index c = 0; c < dv; ++c)
        scratch.acc[static_cast<std::size_t>(c)] = lane_total(wa + c * kL);
    } else {
      const double* ls = scratch.lane_sum.data() + (i - i0) * kL;
      const double* la = scratch.lane_acc.data() + (i - i0) * dv * kL;
      const bool fresh = scratch.fresh[static_cast<std::size_t>(i - i0)];  // no visible key
      st.sum = simd::horizontal_sum(simd::load<V>(ls));
      for (Index c = 0; c < dv; ++c)
        scratch.acc[static_cast<std::size_t>(c)] =
            fresh ? 0.0 : simd::horizontal_sum(simd::load<V>(la + c * kL));
    }
    if (out.values != nullptr)
      Normalization::finalize(st, scratch.acc.data(), dv, out.values + i * dv);
    if (out.log_partition != nullptr) out.log_partition[i] = st.log_partition();
  }
}

/// The calling thread's work space for dv value components, kept between evaluations: thousands
/// of small systems (the phase-diagram workload) evaluate over and over, and allocating and
/// zero-filling a scratch each time cost ~5 % of their time. Nothing carries over from one
/// evaluation to the next: attend_query_block() initialises every part it reads.
template <class T>
BasicBlockScratch<T>& thread_scratch(Index dv) {
  thread_local std::unique_ptr<BasicBlockScratch<T>> scratch;
  if (!scratch || scratch->dv != dv) scratch = std::make_unique<BasicBlockScratch<T>>(dv);
  return *scratch;
}

/// Calls block(b, scratch) for every query block, over OpenMP threads when the work is large.
template <class T, class BlockFn>
void for_each_query_block(const BasicQueryTable<T>& queries, const BasicKeyTable<T>& keys,
                          AttentionOutput out, BlockFn&& block) {
  const Index dv = output_dimension(keys, out);
  const Index n_blocks = (queries.n + kQueryBlockOf<T> - 1) / kQueryBlockOf<T>;
  const bool parallel =
      n_blocks > 1 && queries.n * keys.stride * (keys.k + dv + 1) > kParallelPairWork;
#pragma omp parallel if (parallel)
  {
    BasicBlockScratch<T>& scratch = thread_scratch<T>(dv);
#pragma omp for schedule(static)
    for (Index b = 0; b < n_blocks; ++b) block(b, scratch);
  }
}

}  // namespace attnflow
