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
  bool block_visible(const KeyTable&, Index, Index, double) const { return true; }
  /// Scores of keys j .. j+7 with the masked ones set to −∞.
  [[gnu::always_inline]] simd::v8d apply(double, const KeyTable&, Index, simd::v8d s) const {
    return s;
  }
};

/// Key j is visible to query i only if position_j ≤ position_i (causal / masked attention).
struct CausalMask {
  bool block_visible(const KeyTable& keys, Index j0, Index len, double max_query_position) const {
    const double* p = keys.position.data() + j0;
    return *std::min_element(p, p + len) <= max_query_position;
  }
  [[gnu::always_inline]] simd::v8d apply(double query_position, const KeyTable& keys, Index j,
                                         simd::v8d s) const {
    const simd::v8d masked = simd::broadcast(-std::numeric_limits<double>::infinity());
    return simd::load(keys.position.data() + j) <= query_position ? s : masked;
  }
};

}  // namespace attnflow
