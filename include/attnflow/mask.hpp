#pragma once
// Mask policies: which keys a query may attend to ([C] masked attention, [R] causal SA).
#include <algorithm>
#include <limits>

#include "attnflow/attention_tables.hpp"
#include "attnflow/simd.hpp"

namespace attnflow {

/// Every key is visible.
struct FullMask {
  /// Whether any key of [j0, j0+len) can be visible to a query with position ≤ max_query_position.
  template <class Table>
  bool block_visible(const Table&, Index, Index, double) const {
    return true;
  }
  /// Scores of the vector of keys starting at j with the masked ones set to −∞.
  template <class Table, class V>
  [[gnu::always_inline]] V apply(double, const Table&, Index, V s) const {
    return s;
  }
};

/// Key j is visible to query i only if position_j ≤ position_i (causal / masked attention).
/// Positions are compared in double for tables of every precision.
struct CausalMask {
  template <class Table>
  bool block_visible(const Table& keys, Index j0, Index len, double max_query_position) const {
    const double* p = keys.position.data() + j0;
    return *std::min_element(p, p + len) <= max_query_position;
  }
  template <class Table, class V>
  [[gnu::always_inline]] V apply(double query_position, const Table& keys, Index j, V s) const {
    const V masked = simd::fill<V>(-std::numeric_limits<double>::infinity());
    return simd::select(simd::at_most<V>(keys.position.data() + j, query_position), s, masked);
  }
};

}  // namespace attnflow
