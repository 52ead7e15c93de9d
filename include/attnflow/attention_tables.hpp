#pragma once
// Operand layout of the streaming engine. Keys and values are stored structure-of-arrays (one row
// per feature, padded to a multiple of kLanes keys) so that the inner loop over keys is contiguous,
// vectorises, and needs no tail handling: padded keys have log-weight −∞ and contribute nothing.
#include <limits>
#include <vector>

#include "attnflow/types.hpp"

namespace attnflow {

/// Number of independent partial sums per query (the vector width the inner loops are written
/// for). The order of every reduction is fixed by it and by kKeyBlock, not by the thread count.
inline constexpr Index kLanes = 8;
/// Keys per block of the streaming reduction (the tile that stays in L1 while queries pass).
inline constexpr Index kKeyBlock = 256;
/// Queries per block: the unit of work distributed over threads.
inline constexpr Index kQueryBlock = 32;

/// Below this many pair·feature operations a reduction runs on one thread: a parallel region
/// costs microseconds, and spinning threads slow small runs badly on a loaded machine.
inline constexpr Index kParallelPairWork = Index{1} << 16;
/// Below this many tokens a per-token loop runs on one thread, for the same reason.
inline constexpr Index kParallelTokens = 4096;

/// Keys, values, log-masses and sequence positions of one head, in padded SoA layout.
struct KeyTable {
  Index n = 0;       ///< number of real keys
  Index stride = 0;  ///< padded length (multiple of kLanes)
  Index k = 0;       ///< score feature dimension
  Index dv = 0;      ///< value dimension (0: only partition functions are wanted)
  std::vector<double> keys;        ///< k × stride
  std::vector<double> values;      ///< dv × stride
  std::vector<double> log_weight;  ///< stride; log w_j (+ potentials); −∞ for massless and padded keys
  std::vector<double> weight;      ///< stride; w_j; 0 for padded keys
  std::vector<double> position;    ///< stride; +∞ for padded keys

  const double* key_row(Index c) const { return keys.data() + c * stride; }
  const double* value_row(Index c) const { return values.data() + c * stride; }

  /// Allocates for n keys (idempotent when the sizes do not change) and resets the padding.
  void resize(Index n_keys, Index k_dim, Index v_dim) {
    n = n_keys;
    stride = (n_keys + kLanes - 1) / kLanes * kLanes;
    k = k_dim;
    dv = v_dim;
    keys.assign(static_cast<std::size_t>(k * stride), 0.0);
    values.assign(static_cast<std::size_t>(dv * stride), 0.0);
    log_weight.assign(static_cast<std::size_t>(stride), -std::numeric_limits<double>::infinity());
    weight.assign(static_cast<std::size_t>(stride), 0.0);
    position.assign(static_cast<std::size_t>(stride), std::numeric_limits<double>::infinity());
  }
};

/// Queries of one head: n × k row-major, with their sequence positions.
struct QueryTable {
  Index n = 0;
  Index k = 0;
  std::vector<double> queries;   ///< n × k
  std::vector<double> position;  ///< n

  const double* query(Index i) const { return queries.data() + i * k; }
};

}  // namespace attnflow
