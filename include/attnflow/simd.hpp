#pragma once
// 64-byte vectors (GCC/Clang vector extensions): eight doubles, or sixteen floats for the float32
// engine (model.precision). The engine's partial sums are exactly these lanes (kLanesOf<T>), so
// vector code and reduction order coincide by construction. GCC lowers a type to one AVX-512
// register, two AVX2 registers or four SSE2 registers, whichever the SIMD clone being compiled has
// (dispatch.cpp): one source, every instruction set.
#include <bit>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "attnflow/attention_tables.hpp"

namespace attnflow::simd {

/// Eight doubles.
using v8d = double __attribute__((vector_size(64)));
/// Eight 64-bit integers (comparison masks, exponent bits).
using v8l = std::int64_t __attribute__((vector_size(64)));
/// Unaligned, aliasing view for loads and stores.
using v8d_unaligned = double __attribute__((vector_size(64), aligned(8), may_alias));

/// Sixteen floats.
using v16f = float __attribute__((vector_size(64)));
/// Sixteen 32-bit integers (comparison masks of v16f, exponent bits).
using v16i = std::int32_t __attribute__((vector_size(64)));
/// Unaligned, aliasing view of sixteen floats.
using v16f_unaligned = float __attribute__((vector_size(64), aligned(4), may_alias));
/// Eight floats and eight 32-bit integers (halves of the sixteen-lane types).
using v8f = float __attribute__((vector_size(32)));
using v8i = std::int32_t __attribute__((vector_size(32)));

static_assert(kLanes == 8, "the engine's lanes are one v8d");
static_assert(kLanesOf<float> == 16, "the float32 engine's lanes are one v16f");

/// The engine's vector of scalars T: v8d for double, v16f for float.
template <class T>
struct VectorOf;
template <>
struct VectorOf<double> {
  using type = v8d;
};
template <>
struct VectorOf<float> {
  using type = v16f;
};
template <class T>
using vec = typename VectorOf<T>::type;
/// The scalar type of a vector (double for v8d, float for v16f).
template <class V>
using scalar_of = std::remove_cvref_t<decltype(std::declval<V>()[0])>;

/// Loads p[0..8).
[[gnu::always_inline]] inline v8d load(const double* p) {
  return *reinterpret_cast<const v8d_unaligned*>(p);
}
/// Stores v to p[0..8).
[[gnu::always_inline]] inline void store(double* p, v8d v) {
  *reinterpret_cast<v8d_unaligned*>(p) = v;
}
/// All lanes equal to x.
[[gnu::always_inline]] inline v8d broadcast(double x) {
  return v8d{} + x;
}

/// Loads p[0..16).
[[gnu::always_inline]] inline v16f load(const float* p) {
  return *reinterpret_cast<const v16f_unaligned*>(p);
}
/// Stores v to p[0..16).
[[gnu::always_inline]] inline void store(float* p, v16f v) {
  *reinterpret_cast<v16f_unaligned*>(p) = v;
}
/// All lanes of the vector of T equal to x (rounded to T).
template <class T>
[[gnu::always_inline]] inline vec<T> fill(double x) {
  return vec<T>{} + static_cast<T>(x);
}

/// Lane-wise maximum that keeps a NaN of b out (used only where b is never NaN-significant).
[[gnu::always_inline]] inline v8d max(v8d a, v8d b) {
  return a < b ? b : a;
}

/// Lane-wise maximum of float vectors (see the v8d overload).
[[gnu::always_inline]] inline v16f max(v16f a, v16f b) {
  return a < b ? b : a;
}

/// Largest lane.
[[gnu::always_inline]] inline double horizontal_max(v8d a) {
  double m = a[0];
  for (int l = 1; l < 8; ++l) m = m < a[l] ? a[l] : m;
  return m;
}
/// Largest lane of a float vector (exactly representable as a double), by halving: the maximum
/// is exact, so the order does not change it (a −0/+0 tie may pick either zero, which weights
/// e^{s−m} do not distinguish).
[[gnu::always_inline]] inline double horizontal_max(v16f a) {
  const v8f m8 = [](v8f x, v8f y) { return x < y ? y : x; }(
                     __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7),
                     __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15));
  float m = m8[0];
  for (int l = 1; l < 8; ++l) m = m < m8[l] ? m8[l] : m;
  return m;
}

/// Lanes 0..7 and 8..15 of a float vector, widened exactly to doubles.
[[gnu::always_inline]] inline v8d widen_low(v16f a) {
  return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7), v8d);
}
[[gnu::always_inline]] inline v8d widen_high(v16f a) {
  return __builtin_convertvector(__builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15), v8d);
}

/// Mask of the lanes with p[l] ≤ x, for the lanes of a vector of T: the comparison is made in
/// double (sequence positions stay double in every table), so the float32 engine masks exactly
/// the keys the float64 one does.
template <class T>
[[gnu::always_inline]] inline auto at_most(const double* p, double x) {
  if constexpr (std::is_same_v<T, double>) {
    return load(p) <= x;
  } else {
    const v8i lo = __builtin_convertvector(load(p) <= x, v8i);
    const v8i hi = __builtin_convertvector(load(p + 8) <= x, v8i);
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  }
}

/// Σ of the lanes in index order (the engine's fixed reduction order).
[[gnu::always_inline]] inline double horizontal_sum(v8d a) {
  double s = a[0];
  for (int l = 1; l < 8; ++l) s += a[l];
  return s;
}

/// e^x lane-wise, branch-free so it vectorises (std::exp is a libm call and stops vectorisation;
/// Debian's SLEEF has only per-ISA entry points, which would need dispatching per call, while this
/// is inlined into each SIMD clone of the engine). Method: x = k·ln2 + r, k = round(x/ln2)
/// (Cody–Waite two-part ln2, |r| ≤ ln2/2); e^r by its degree-13 Taylor polynomial (truncation
/// ≤ (ln2/2)^14/14! < 4·10⁻¹⁸, below half an ulp); 2^k built in the exponent bits. Below −708 the
/// result is 0 (in the engine the argument is a score minus the running maximum, so such terms are
/// below the round-off of a sum ≥ 1); above 709, +∞; NaN propagates. Measured: worst 1.13 ulp
/// against expl over 4·10⁶ points of [−708, 709] (tests/unit/test_fast_exp.cpp asserts ≤ 2 ulp).
[[gnu::always_inline]] inline v8d exp(v8d x) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShifter = 0x1.8p52;
  constexpr double kMin = -708.0;
  constexpr double kMax = 709.0;
  const v8l too_small = x < kMin;
  const v8l too_large = x > kMax;
  v8d xc = too_small ? broadcast(kMin) : x;
  xc = too_large ? broadcast(kMax) : xc;
  const v8d shifted = xc * kLog2e + kShifter;
  const v8d k = shifted - kShifter;
  const v8d r = (xc - k * kLn2Hi) - k * kLn2Lo;
  v8d p = broadcast(1.0 / 6227020800.0);
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const v8l shifter_bits = v8l{} + 0x4338000000000000LL;  // bits of kShifter
  const v8l ki = std::bit_cast<v8l>(shifted) - shifter_bits;
  const v8l scale_bits = (ki + 1023) << 52;
  const v8d result = p * std::bit_cast<v8d>(scale_bits);
  const v8d with_low = too_small ? broadcast(0.0) : result;
  return too_large ? broadcast(__builtin_inf()) : with_low;
}

/// e^x lane-wise in float (the float32 engine's exponential; same structure as the double one).
/// Method: x = k·ln2 + r, k = round(x·log2 e), Cody–Waite two-part ln2 (ln2_hi has 9 significant
/// bits, so k·ln2_hi is exact for |k| ≤ 127), |r| ≤ ln2/2; e^r = 1 + r + r²·P(r) with Cephes'
/// degree-5 minimax P (S. Moshier, Cephes expf.c: relative error of the polynomial ≲ 2⁻²⁴ on
/// |r| ≤ ln2/2); 2^k built in the exponent bits. Below −87 the result is 0 (e^{−87} ≈ 1.6·10⁻³⁸,
/// far below the float round-off of a sum ≥ 1, which is how the engine uses it); above 88, +∞
/// (the true overflow is at 88.72: 2^k would need k = 128); NaN propagates. Hand-written rather
/// than SLEEF for the reason given at exp(v8d). Measured: worst 0.98 float ulp against e^x
/// (std::exp in double) over 4·10⁶ points of [−87, 88] (tests/unit/test_engine_float32.cpp
/// asserts ≤ 1.5).
[[gnu::always_inline]] inline v16f exp(v16f x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kShifter = 0x1.8p23f;
  constexpr float kMin = -87.0f;
  constexpr float kMax = 88.0f;
  const v16i too_small = x < kMin;
  const v16i too_large = x > kMax;
  v16f xc = too_small ? fill<float>(kMin) : x;
  xc = too_large ? fill<float>(kMax) : xc;
  const v16f shifted = xc * kLog2e + kShifter;
  const v16f k = shifted - kShifter;
  const v16f r = (xc - k * kLn2Hi) - k * kLn2Lo;
  v16f p = fill<float>(1.9875691500e-4);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = (p * (r * r) + r) + 1.0f;
  const v16i shifter_bits = v16i{} + 0x4B400000;  // bits of kShifter
  const v16i ki = std::bit_cast<v16i>(shifted) - shifter_bits;
  const v16i scale_bits = (ki + 127) << 23;
  const v16f result = p * std::bit_cast<v16f>(scale_bits);
  const v16f with_low = too_small ? fill<float>(0.0) : result;
  return too_large ? fill<float>(__builtin_inff()) : with_low;
}

}  // namespace attnflow::simd
