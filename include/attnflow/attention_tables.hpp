#pragma once
// Operand layout of the streaming engine. Keys and values are stored structure-of-arrays (one row
// per feature, padded to a multiple of kLanes keys) so that the inner loop over keys is contiguous,
// vectorises, and needs no tail handling: padded keys have log-weight −∞ and contribute nothing.
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow {

/// Number of independent partial sums per query for tables of scalars T: 64 bytes of lanes
/// (8 doubles, 16 floats), held as one, two or four registers by the vector width at hand
/// (simd::Pack). The order of every reduction is fixed by it and by the key block size, never by
/// the thread count or the width.
template <class T>
inline constexpr Index kLanesOf = Index{64} / static_cast<Index>(sizeof(T));
/// The lanes of the float64 engine.
inline constexpr Index kLanes = kLanesOf<double>;
/// Largest and smallest number of keys per block of the streaming reduction.
inline constexpr Index kKeyBlock = 256;
inline constexpr Index kMinKeyBlock = 32;

/// Keys per block for k score features and dv value components stored as `bytes`-byte scalars:
/// the largest power of two in [smallest, kKeyBlock] whose keys and values fit in 192 KiB, so a
/// block stays in L2 while the queries of a block pass over it. (An L1-sized 24 KiB budget gave
/// 32-key blocks at k = dv = 64, whose per-block work — horizontal maxima, lane sums, loop
/// set-up — cost more than the L2 reads it saved: `bench velocity --n 8192 --d 64 --threads 1`
/// took 0.315 s of CPU with 32-key blocks, 0.289 with 64, 0.283 with 128 and 0.273 with 256; 128
/// keys, 133 KiB, leaves room in the 256 KiB L2 of older cores.) The smallest block is four
/// vectors of lanes (kMinKeyBlock = 32 doubles, 64 floats), so that pass 1 of the engine always
/// forms four independent score chains (at large k a single chain is bound by the add latency).
constexpr Index key_block_size(Index k, Index dv, Index bytes = 8) {
  constexpr Index kBudgetBytes = 192 * 1024;
  const Index smallest = std::max(kMinKeyBlock, 4 * (Index{64} / bytes));
  Index block = kKeyBlock;
  while (block > smallest && block * (k + dv + 2) * bytes > kBudgetBytes) block /= 2;
  return block;
}
/// Queries per block: the unit of work distributed over threads, for tables of scalars T. Every
/// key block is read from memory once per query block, so larger blocks read the key table fewer
/// times: at N = 16384, d = 64 (a 16 MiB table, beyond L2) one float64 thread took 1.31 s with 32
/// queries per block, 1.20 s with 64, 1.10 s with 128 and 1.09 s with 256 (`bench velocity
/// --threads 1`); 128 keeps the lane accumulators at 128 · dv · 64 bytes (512 KiB at dv = 64).
/// The float32 engine also keeps double lanes (Accumulation<float>: 16 per component), and there
/// 64 measured best (0.58 s; 32: 0.61 s, 128: 0.62 s).
template <class T>
inline constexpr Index kQueryBlockOf = std::is_same_v<T, float> ? 64 : 128;

/// Below this many pair·feature operations a reduction runs on one thread: a parallel region
/// costs microseconds, and spinning threads slow small runs badly on a loaded machine.
inline constexpr Index kParallelPairWork = Index{1} << 20;
/// Below this many tokens a per-token loop runs on one thread, for the same reason.
inline constexpr Index kParallelTokens = 4096;

/// Keys, values, log-masses and sequence positions of one head, stored as scalars T (double, or
/// float for the float32 engine; positions are always double so that masks are exact). Keys and
/// values are stored block-major: the keys of block [j0, j0 + len) occupy one contiguous k × len
/// array (feature c is row c), and their values one dv × len array. A block is then one
/// contiguous stretch of memory: a layout with rows N apart would put all k rows of a block in the
/// same L1 set and on k pages.
template <class T>
struct BasicKeyTable {
  using Scalar = T;
  static constexpr Index kLanesT = kLanesOf<T>;  ///< lanes of the engine over this table

  Index n = 0;                ///< number of real keys
  Index stride = 0;           ///< padded length (multiple of kLanesT)
  Index k = 0;                ///< score feature dimension
  Index dv = 0;               ///< value dimension (0: only partition functions are wanted)
  Index block = kKeyBlock;    ///< keys per block of the reduction: key_block_size(k, dv, sizeof(T))
  std::vector<T> keys;        ///< k × stride, block-major
  std::vector<T> values;      ///< dv × stride, block-major
  std::vector<T> log_weight;  ///< stride; log w_j (+ potentials); −∞ for massless and padded keys
  std::vector<T> weight;      ///< stride; w_j; 0 for padded keys
  std::vector<double> position;  ///< stride; +∞ for padded keys

  /// Number of keys in the block that starts at j0.
  Index block_length(Index j0) const { return std::min(block, stride - j0); }
  /// Index of feature c of key j in a block-major array with `rows` features per key.
  Index offset(Index rows, Index c, Index j) const {
    const Index j0 = j / block * block;
    return j0 * rows + c * block_length(j0) + (j - j0);
  }
  /// Feature c of key j.
  T& key_at(Index c, Index j) { return keys[static_cast<std::size_t>(offset(k, c, j))]; }
  /// Component c of the value of key j.
  T& value_at(Index c, Index j) { return values[static_cast<std::size_t>(offset(dv, c, j))]; }
  /// The k × len key array of the block starting at j0.
  const T* key_block(Index j0) const { return keys.data() + j0 * k; }
  /// The dv × len value array of the block starting at j0.
  const T* value_block(Index j0) const { return values.data() + j0 * dv; }

  /// Allocates for n keys (idempotent when the sizes do not change) and resets the padding.
  void resize(Index n_keys, Index k_dim, Index v_dim) {
    n = n_keys;
    stride = (n_keys + kLanesT - 1) / kLanesT * kLanesT;
    k = k_dim;
    dv = v_dim;
    block = key_block_size(k_dim, v_dim, sizeof(T));
    keys.assign(static_cast<std::size_t>(k * stride), T{0});
    values.assign(static_cast<std::size_t>(dv * stride), T{0});
    log_weight.assign(static_cast<std::size_t>(stride), -std::numeric_limits<T>::infinity());
    weight.assign(static_cast<std::size_t>(stride), T{0});
    position.assign(static_cast<std::size_t>(stride), std::numeric_limits<double>::infinity());
  }

  /// Replaces the values by zeros of dimension v_dim, keeping keys, masses and positions (the
  /// block size, and with it the key layout, follows the new dimension).
  void reset_values(Index v_dim) {
    std::vector<T> canonical(static_cast<std::size_t>(k * stride));
    for (Index c = 0; c < k; ++c)
      for (Index j = 0; j < stride; ++j)
        canonical[static_cast<std::size_t>(c * stride + j)] = key_at(c, j);
    dv = v_dim;
    block = key_block_size(k, v_dim, sizeof(T));
    for (Index c = 0; c < k; ++c)
      for (Index j = 0; j < stride; ++j)
        key_at(c, j) = canonical[static_cast<std::size_t>(c * stride + j)];
    values.assign(static_cast<std::size_t>(dv * stride), T{0});
  }
};

/// Queries of one head: n × k row-major scalars T, with their sequence positions (double).
template <class T>
struct BasicQueryTable {
  using Scalar = T;
  Index n = 0;
  Index k = 0;
  std::vector<T> queries;        ///< n × k
  std::vector<double> position;  ///< n

  const T* query(Index i) const { return queries.data() + i * k; }
};

/// The float64 tables (the default engine, and every reduction outside the velocity field).
using KeyTable = BasicKeyTable<double>;
using QueryTable = BasicQueryTable<double>;
/// The float32 tables of model.precision = "float32".
using KeyTable32 = BasicKeyTable<float>;
using QueryTable32 = BasicQueryTable<float>;

}  // namespace attnflow
