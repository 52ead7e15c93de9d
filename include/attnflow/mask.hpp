#pragma once
// Mask policies: which keys a query may attend to ([C] masked attention, [R] causal SA).
#include <algorithm>
#include <limits>

#include "attnflow/attention_tables.hpp"

namespace attnflow {

/// Every key is visible.
struct FullMask {
  /// Whether any key of [j0, j0+len) can be visible to a query with position ≤ max_query_position.
  bool block_visible(const KeyTable&, Index, Index, double) const { return true; }
  /// Sets masked scores to −∞.
  void apply(double, const KeyTable&, Index, Index, double*) const {}
};

/// Key j is visible to query i only if position_j ≤ position_i (causal / masked attention).
struct CausalMask {
  bool block_visible(const KeyTable& keys, Index j0, Index len, double max_query_position) const {
    const double* p = keys.position.data() + j0;
    return *std::min_element(p, p + len) <= max_query_position;
  }
  void apply(double query_position, const KeyTable& keys, Index j0, Index len, double* s) const {
    const double* p = keys.position.data() + j0;
    constexpr double kMasked = -std::numeric_limits<double>::infinity();
    for (Index j = 0; j < len; ++j) s[j] = p[j] <= query_position ? s[j] : kMasked;
  }
};

}  // namespace attnflow
