#pragma once
// The roofline of the streaming engine (issue 7): what the machine at hand can do at most for one
// softmax velocity evaluation, from two microbenchmarks compiled exactly like the engine's kernels
// (at the active vector width of simd_dispatch.hpp, with the same simd::mul_add) and a per-pair
// cost model read off attend_query_block().
//
// Cost model, per (query, key) pair of softmax attention with a dot-product score, no mask,
// k score features and dv value components (stream_attention.hpp, score.hpp, weighting.hpp):
//   pass 1  s = β⟨q, k_j⟩ + log w_j, running max:  k mul-adds (dot = mul_add(q_c, k_cj, dot)),
//           1 mul (· β), 1 add (+ log w_j), 1 max;
//   pass 2  p = e^{s − m}, lane sum:               1 subtraction, 1 simd::exp, 1 add;
//   pass 3  Σ_j p v_j:                              dv mul-adds (a_c = mul_add(p, v_cj, a_c)).
// So 1 exp + (k + dv) mul-adds + 5 single operations. A mul-add is simd::mul_add: one fused
// instruction at the AVX-512 and AVX2 widths, a multiply and an add at SSE2; the microbenchmark
// times that same operation. The 5 single operations count as 5/2 mul-adds (as cheap as half a
// mul-add: exact for a multiply-then-add, and for cores like this one whose adds run on pipes of
// their own beside the FMA pipes). Left out: loads and stores (cache-resident by construction of
// the key blocks: k + 2 dv + 2 loads and 2 stores per pair), the per-(query, block) horizontal max
// and rare rescale (1/32 of a pair or less) and the O(N d) per-query work (table building,
// finalize, tangent projection), all o(N²). The bound treats the exp and the mul-adds as competing
// for the same floating-point pipes (their times add):
//   bound_pairs_per_s = 1 / (exps / exp_rate + (mul_adds + single_ops / 2) / mul_add_rate)
// with exp_rate in exps/s and mul_add_rate in mul-adds/s (flops/s = 2 · mul_add_rate).
#include <cstdint>

#include "attnflow/types.hpp"

namespace attnflow::roofline {

/// Work per (query, key) pair of the streaming engine.
struct PairCost {
  double exps = 0.0;        ///< simd::exp lanes
  double mul_adds = 0.0;    ///< simd::mul_add lanes (2 flops each)
  double single_ops = 0.0;  ///< lone adds, multiplies, subtractions, maxima
};

/// The cost of a softmax pair with k score features and dv value components (see above).
PairCost softmax_pair_cost(Index k, Index dv);

/// Mul-add equivalents of a pair: mul_adds + single_ops / 2.
double mul_add_equivalents(const PairCost& cost);

/// 1 / (exps / exp_rate + mul_add_equivalents / mul_add_rate): the largest pairs/s the machine
/// can sustain if the pair's arithmetic ran at the measured peak rates. Rates must be > 0.
double bound_pairs_per_second(const PairCost& cost, double exp_rate, double mul_add_rate);

/// One microbenchmark result: work done per second on one thread and on `threads` threads.
struct Rate {
  int threads = 1;
  double per_second_one_thread = 0.0;        ///< from thread CPU time, min over repeats
  double per_second_all_threads = 0.0;       ///< threads × one-thread work / CPU time per thread
  double wall_per_second_all_threads = 0.0;  ///< the same from wall time (meaningful when idle)
  double checksum = 0.0;                     ///< uses the results, so nothing is optimised away
};

/// simd::exp_nonpositive (the softmax weights' exponential) lanes per second over an L1-resident
/// array of 2048 arguments in [−20, 0] (the range of s − m in the engine), at the engine's active
/// vector width.
Rate measure_exp_rate(int threads, double min_seconds);

/// Mul-adds per second (a ← simd::mul_add(a, m, c) lane-wise on 8 and on 16 independent
/// eight-lane chains, the faster kept): the register-resident peak of the operation the engine's
/// inner loops do.
Rate measure_mul_add_rate(int threads, double min_seconds);

}  // namespace attnflow::roofline
