#pragma once
// The engine's vectors: kLanesOf<T> scalars (eight doubles, or sixteen floats for the float32
// engine, model.precision), held as K native registers of the instruction set a function is
// compiled for (simd::Width512 / Width256 / Width128, chosen at run time by simd_dispatch.hpp).
// The engine's partial sums are exactly these lanes, so vector code and reduction order coincide
// by construction. Multiply-adds are fused (mul_add) at the widths whose instruction set has
// FMA, so AVX-512 and AVX2 compute the same IEEE operations lane by lane and give bitwise the
// same results; SSE2 (a multiply, then an add) agrees with them to round-off
// (tests/unit/test_simd_widths.cpp).
//
// Why Pack<N, K> and not one 64-byte GCC vector for every instruction set: GCC 12 gives a vector
// type wider than the target's registers no machine mode, so on AVX2 every such value lives in
// memory and each operation is split into halves that are stored and reloaded (measured: the AVX2
// build was 11–17× slower than the AVX-512 one). K registers in a struct are scalarised into K
// independent registers instead.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnflow/attention_tables.hpp"

// Function attributes that compile a function for one width's instruction set (GCC on x86-64).
// Elsewhere every width compiles for the default target, and only Width128 is run.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ATTNFLOW_TARGET_512 __attribute__((target("arch=x86-64-v4")))
#define ATTNFLOW_TARGET_256 __attribute__((target("arch=x86-64-v3")))
#define ATTNFLOW_X86_WIDTHS 1
#else
#define ATTNFLOW_TARGET_512
#define ATTNFLOW_TARGET_256
#define ATTNFLOW_X86_WIDTHS 0
#endif

namespace attnflow::simd {

// Native vectors (GCC/Clang vector extensions) of 16, 32 and 64 bytes.
using v2d = double __attribute__((vector_size(16)));
using v2l = std::int64_t __attribute__((vector_size(16)));
using v4f = float __attribute__((vector_size(16)));
using v4i = std::int32_t __attribute__((vector_size(16)));
using v4d = double __attribute__((vector_size(32)));
using v4l = std::int64_t __attribute__((vector_size(32)));
using v8f = float __attribute__((vector_size(32)));
using v8i = std::int32_t __attribute__((vector_size(32)));
using v8d = double __attribute__((vector_size(64)));
using v8l = std::int64_t __attribute__((vector_size(64)));
using v16f = float __attribute__((vector_size(64)));
using v16i = std::int32_t __attribute__((vector_size(64)));

/// The integer vector of the same lane count and lane size as native vector N (the type of a
/// comparison's mask, and of the exponent bits in exp).
template <class N>
using native_int = decltype(N{} < N{});

/// K native vectors N used as one vector of K · (lanes of N) lanes; lane l is lane l mod W of
/// part l / W (W lanes per part). All operations act part by part.
template <class N, int K>
struct Pack {
  using Native = N;
  using Scalar = std::remove_cvref_t<decltype(N{}[0])>;
  static constexpr int kParts = K;
  static constexpr int kPartLanes = static_cast<int>(sizeof(N) / sizeof(Scalar));
  static constexpr int kLanes = K * kPartLanes;
  N part[K];

  [[gnu::always_inline]] Scalar operator[](int l) const {
    return part[l / kPartLanes][l % kPartLanes];
  }
};

template <class V>
struct is_pack : std::false_type {};
template <class N, int K>
struct is_pack<Pack<N, K>> : std::true_type {};
template <class V>
concept AnyPack = is_pack<V>::value;

/// The scalar type of a pack (double or float, or the integer of a mask pack).
template <AnyPack V>
using scalar_of = typename V::Scalar;
/// The mask / integer pack of a pack of floating-point lanes.
template <AnyPack V>
using int_of = Pack<native_int<typename V::Native>, V::kParts>;

// Lane-wise operators, part by part, with a scalar on either side broadcast to all lanes.
#define ATTNFLOW_PACK_BINARY(op)                                                          \
  template <class N, int K>                                                               \
  [[gnu::always_inline]] inline Pack<N, K> operator op(Pack<N, K> a, Pack<N, K> b) {      \
    Pack<N, K> r;                                                                         \
    for (int k = 0; k < K; ++k) r.part[k] = a.part[k] op b.part[k];                       \
    return r;                                                                             \
  }                                                                                       \
  template <class N, int K>                                                               \
  [[gnu::always_inline]] inline Pack<N, K> operator op(Pack<N, K> a,                      \
                                                       typename Pack<N, K>::Scalar b) {   \
    Pack<N, K> r;                                                                         \
    for (int k = 0; k < K; ++k) r.part[k] = a.part[k] op b;                               \
    return r;                                                                             \
  }                                                                                       \
  template <class N, int K>                                                               \
  [[gnu::always_inline]] inline Pack<N, K> operator op(typename Pack<N, K>::Scalar a,     \
                                                       Pack<N, K> b) {                    \
    Pack<N, K> r;                                                                         \
    for (int k = 0; k < K; ++k) r.part[k] = a op b.part[k];                               \
    return r;                                                                             \
  }                                                                                       \
  template <class N, int K>                                                               \
  [[gnu::always_inline]] inline Pack<N, K>& operator op##=(Pack<N, K>& a, Pack<N, K> b) { \
    a = a op b;                                                                           \
    return a;                                                                             \
  }
ATTNFLOW_PACK_BINARY(+)
ATTNFLOW_PACK_BINARY(-)
ATTNFLOW_PACK_BINARY(*)
ATTNFLOW_PACK_BINARY(/)
#undef ATTNFLOW_PACK_BINARY

template <class N, int K>
[[gnu::always_inline]] inline Pack<N, K> operator-(Pack<N, K> a) {
  Pack<N, K> r;
  for (int k = 0; k < K; ++k) r.part[k] = -a.part[k];
  return r;
}
/// Left shift of integer lanes.
template <class N, int K>
[[gnu::always_inline]] inline Pack<N, K> operator<<(Pack<N, K> a, int bits) {
  Pack<N, K> r;
  for (int k = 0; k < K; ++k) r.part[k] = a.part[k] << bits;
  return r;
}

// Comparisons: masks with all bits set in the lanes where the relation holds.
#define ATTNFLOW_PACK_COMPARE(op)                                                                \
  template <class N, int K>                                                                      \
  [[gnu::always_inline]] inline Pack<native_int<N>, K> operator op(Pack<N, K> a, Pack<N, K> b) { \
    Pack<native_int<N>, K> r;                                                                    \
    for (int k = 0; k < K; ++k) r.part[k] = a.part[k] op b.part[k];                              \
    return r;                                                                                    \
  }                                                                                              \
  template <class N, int K>                                                                      \
  [[gnu::always_inline]] inline Pack<native_int<N>, K> operator op(                              \
      Pack<N, K> a, typename Pack<N, K>::Scalar b) {                                             \
    Pack<native_int<N>, K> r;                                                                    \
    for (int k = 0; k < K; ++k) r.part[k] = a.part[k] op b;                                      \
    return r;                                                                                    \
  }
ATTNFLOW_PACK_COMPARE(<)
ATTNFLOW_PACK_COMPARE(>)
ATTNFLOW_PACK_COMPARE(<=)
ATTNFLOW_PACK_COMPARE(==)
#undef ATTNFLOW_PACK_COMPARE

// a·b + c with one rounding where the width's instruction set has a fused multiply-add (AVX-512,
// AVX2 + FMA: x86-64-v4 and v3 both include FMA), else a·b rounded, then + c (SSE2 and other
// targets). A fused operation is correctly rounded, so every FMA width gives the same bits.
// Written as one instruction of inline assembly: GCC's FMA builtins are target-specific, and the
// engine's templates (compiled for the default target, then inlined into each width's function)
// may not call them; the assembly text is only checked where it is finally expanded, inside the
// width's own function. Only the 32- and 64-byte types reach it, in those functions.
// Two forms of the same operation, which differ only in the register the result takes (so that no
// copy is needed): fused_mul_add overwrites c (vfmadd231: running sums c += a·b), fused_horner_step
// overwrites a (vfmadd213: polynomial steps p = p·r + coefficient, the coefficient kept).
#if ATTNFLOW_X86_WIDTHS
#define ATTNFLOW_FMA_FORMS(N, suffix, reg)                                   \
  [[gnu::always_inline]] inline N fused_mul_add(N a, N b, N c) {             \
    asm("vfmadd231" suffix " %2, %1, %0" : "+" reg(c) : reg(a), reg "m"(b)); \
    return c;                                                                \
  }                                                                          \
  [[gnu::always_inline]] inline N fused_horner_step(N a, N b, N c) {         \
    asm("vfmadd213" suffix " %2, %1, %0" : "+" reg(a) : reg(b), reg "m"(c)); \
    return a;                                                                \
  }
ATTNFLOW_FMA_FORMS(v8d, "pd", "v")
ATTNFLOW_FMA_FORMS(v16f, "ps", "v")
ATTNFLOW_FMA_FORMS(v4d, "pd", "x")
ATTNFLOW_FMA_FORMS(v8f, "ps", "x")
#undef ATTNFLOW_FMA_FORMS
#endif
template <class N>
[[gnu::always_inline]] inline N fused_mul_add(N a, N b, N c) {
  return a * b + c;
}
template <class N>
[[gnu::always_inline]] inline N fused_horner_step(N a, N b, N c) {
  return a * b + c;
}

/// Lane-wise mask ? a : b.
template <class M, class N, int K>
[[gnu::always_inline]] inline Pack<N, K> select(Pack<M, K> mask, Pack<N, K> a, Pack<N, K> b) {
  Pack<N, K> r;
  for (int k = 0; k < K; ++k) r.part[k] = mask.part[k] ? a.part[k] : b.part[k];
  return r;
}

/// a·b + c lane-wise: fused (one rounding) at the widths with FMA (Width512, Width256), two
/// roundings at Width128 (see fused_mul_add).
template <class N, int K>
[[gnu::always_inline]] inline Pack<N, K> mul_add(Pack<N, K> a, Pack<N, K> b, Pack<N, K> c) {
  Pack<N, K> r;
  for (int k = 0; k < K; ++k) r.part[k] = fused_mul_add(a.part[k], b.part[k], c.part[k]);
  return r;
}
/// The same a·b + c for a Horner step (a is the running value; see fused_horner_step).
template <class N, int K>
[[gnu::always_inline]] inline Pack<N, K> horner_step(Pack<N, K> a, Pack<N, K> b, Pack<N, K> c) {
  Pack<N, K> r;
  for (int k = 0; k < K; ++k) r.part[k] = fused_horner_step(a.part[k], b.part[k], c.part[k]);
  return r;
}

/// All lanes equal to x (rounded to the pack's scalar).
template <AnyPack V>
[[gnu::always_inline]] inline V fill(double x) {
  V r;
  for (int k = 0; k < V::kParts; ++k)
    r.part[k] = typename V::Native{} + static_cast<scalar_of<V>>(x);
  return r;
}
/// Loads p[0 .. V::kLanes) (unaligned).
template <AnyPack V>
[[gnu::always_inline]] inline V load(const scalar_of<V>* p) {
  V r;
  for (int k = 0; k < V::kParts; ++k)
    std::memcpy(&r.part[k], p + k * V::kPartLanes, sizeof(typename V::Native));
  return r;
}
/// Stores v to p[0 .. V::kLanes) (unaligned).
template <AnyPack V>
[[gnu::always_inline]] inline void store(scalar_of<V>* p, V v) {
  for (int k = 0; k < V::kParts; ++k)
    std::memcpy(p + k * V::kPartLanes, &v.part[k], sizeof(typename V::Native));
}

/// Lane-wise maximum that keeps a NaN of b out (used only where b is never NaN-significant).
template <AnyPack V>
[[gnu::always_inline]] inline V max(V a, V b) {
  return select(a < b, b, a);
}

/// Largest lane, scanning lanes in index order (the same order at every width, so a −0/+0 tie
/// resolves the same way everywhere). A float lane is exactly representable as a double.
template <AnyPack V>
[[gnu::always_inline]] inline double horizontal_max(V a) {
  scalar_of<V> m = a[0];
  for (int l = 1; l < V::kLanes; ++l) m = m < a[l] ? a[l] : m;
  return static_cast<double>(m);
}

/// Σ of the lanes in index order (the engine's fixed reduction order).
template <AnyPack V>
[[gnu::always_inline]] inline double horizontal_sum(V a) {
  double s = a[0];
  for (int l = 1; l < V::kLanes; ++l) s += a[l];
  return s;
}

/// Mask of the lanes with p[l] ≤ x: the comparison is made in double (sequence positions stay
/// double in every table), so the float32 engine masks exactly the keys the float64 one does.
template <AnyPack V>
[[gnu::always_inline]] inline int_of<V> at_most(const double* p, double x) {
  using M = int_of<V>;
  if constexpr (std::is_same_v<scalar_of<V>, double>) {
    return load<V>(p) <= x;
  } else if constexpr (std::is_same_v<typename V::Native, v16f>) {
    using Doubles = Pack<v8d, 1>;
    const v8i lo = __builtin_convertvector(load<Doubles>(p).part[0] <= x, v8i);
    const v8i hi = __builtin_convertvector(load<Doubles>(p + 8).part[0] <= x, v8i);
    return M{
        {__builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)}};
  } else {
    // Narrower float widths (AVX2, SSE2): the lanes one by one (causal float32 only).
    std::int32_t lanes[V::kLanes];
    for (int l = 0; l < V::kLanes; ++l) lanes[l] = p[l] <= x ? -1 : 0;
    M r;
    std::memcpy(&r, lanes, sizeof(r));
    return r;
  }
}

/// The argument reduction both exponentials share: x clamped to [kMin, kMax] (kMax only with
/// kHighClamp), k = round(x·log2 e) by the shifter trick (shifted = x·log2 e + shifter holds k in
/// its low mantissa bits), and r = x − k·ln2 with the two-part ln2 = ln2_hi + ln2_lo.
template <AnyPack V>
struct ReducedExpArgument {
  int_of<V> too_small;
  int_of<V> too_large;  ///< all clear without kHighClamp
  V shifted;
  V r;
};
template <bool kHighClamp, class V, class S>
[[gnu::always_inline]] inline ReducedExpArgument<V> reduce_exp_argument(V x, S min, S max, S log2e,
                                                                        S shifter, S ln2_hi,
                                                                        S ln2_lo) {
  using I = int_of<V>;
  const I too_small = x < min;
  V xc = select(too_small, fill<V>(min), x);
  I too_large{};
  if constexpr (kHighClamp) {
    too_large = x > max;
    xc = select(too_large, fill<V>(max), xc);
  }
  const V shifted = horner_step(xc, fill<V>(log2e), fill<V>(shifter));
  const V k = shifted - shifter;
  const V r = mul_add(-k, fill<V>(ln2_lo), mul_add(-k, fill<V>(ln2_hi), xc));
  return {too_small, too_large, shifted, r};
}

/// e^x lane-wise on double lanes, branch-free so it vectorises (std::exp is a libm call and stops
/// vectorisation; Debian's SLEEF has only per-ISA entry points, which would need dispatching per
/// call, while this is inlined into each width's engine). Method: x = k·ln2 + r, k = round(x/ln2)
/// (Cody–Waite two-part ln2, |r| ≤ ln2/2); e^r by a near-minimax polynomial of degree 11
/// (Chebyshev fit, scripts/exp_coefficients.py: relative error 1.7·10⁻¹⁷ with the coefficients
/// rounded to double, 0.15 ulp) in Horner form with multiply-adds; 2^k built in the exponent bits.
/// Below −708 the result is 0 (in the engine the argument is a score minus the running maximum,
/// so such terms are below the round-off of a sum ≥ 1); above 709, +∞ (kHighClamp; without it
/// the caller guarantees x ≤ 709); NaN propagates. Measured against expl over 2·10⁶ points of
/// [−708, 709]: worst 0.94 ulp with fused multiply-adds (AVX-512, AVX2), 1.21 ulp unfused (SSE2);
/// tests/unit/test_fast_exp.cpp asserts ≤ 2 ulp at every width. Fused multiply-adds made it 1.8×
/// faster on AVX-512 than the unfused degree-13 Taylor form it replaced (1.13·10⁹ → 2.06·10⁹ per
/// second and core, `attnflow bench roofline`); degree 11 shortens the chain by two more.
template <bool kHighClamp, class V>
[[gnu::always_inline]] inline V exp_f64(V x) {
  using I = int_of<V>;
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShifter = 0x1.8p52;
  constexpr double kMin = -708.0;
  constexpr double kMax = 709.0;
  const auto [too_small, too_large, shifted, r] =
      reduce_exp_argument<kHighClamp>(x, kMin, kMax, kLog2e, kShifter, kLn2Hi, kLn2Lo);
  // scripts/exp_coefficients.py, degrees 10 down to 0 (degree 11 starts the Horner chain).
  constexpr double kCoefficients[] = {
      0x1.28b4057f44145p-22, 0x1.71ddf5749d126p-19, 0x1.a01991ac8730ap-16, 0x1.a01a01b14378fp-13,
      0x1.6c16c187fbe02p-10, 0x1.111111110f225p-7,  0x1.555555554f0cfp-5,  0x1.555555555555ap-3,
      0x1.0000000000011p-1,  0x1.0000000000000p+0,  0x1.0000000000000p+0};
  V p = fill<V>(0x1.af631d0059becp-26);
  for (double c : kCoefficients) p = horner_step(p, r, fill<V>(c));
  // __builtin_bit_cast, not std::bit_cast: a library template compiled for the default target
  // would, if not inlined (a debug build), pass 64-byte packs under another calling convention
  // than the width's function expects.
  const I ki =
      __builtin_bit_cast(I, shifted) - std::int64_t{0x4338000000000000LL};  // bits of kShifter
  const I scale_bits = (ki + std::int64_t{1023}) << 52;
  const V result = p * __builtin_bit_cast(V, scale_bits);
  const V with_low = select(too_small, fill<V>(0.0), result);
  if constexpr (kHighClamp) return select(too_large, fill<V>(__builtin_inf()), with_low);
  return with_low;
}

/// e^x lane-wise on float lanes (the float32 engine's exponential; same structure as the double
/// one). Method: x = k·ln2 + r, k = round(x·log2 e), Cody–Waite two-part ln2 (ln2_hi has 9
/// significant bits, so k·ln2_hi is exact for |k| ≤ 127), |r| ≤ ln2/2; e^r = 1 + r + r²·P(r) with
/// Cephes' degree-5 minimax P (S. Moshier, Cephes expf.c: relative error of the polynomial ≲ 2⁻²⁴
/// on |r| ≤ ln2/2); 2^k built in the exponent bits. Below −87 the result is 0 (e^{−87} ≈
/// 1.6·10⁻³⁸, far below the float round-off of a sum ≥ 1, which is how the engine uses it); above
/// 88, +∞ (kHighClamp; the true overflow is at 88.72: 2^k would need k = 128); NaN propagates.
/// Hand-written rather than SLEEF for the reason given at exp_f64. Measured against e^x (std::exp
/// in double) over 4·10⁶ points of [−87, 88]: worst 1.01 float ulp fused, 0.98 unfused
/// (tests/unit/test_engine_float32.cpp asserts ≤ 1.5 at every width).
template <bool kHighClamp, class V>
[[gnu::always_inline]] inline V exp_f32(V x) {
  using I = int_of<V>;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kShifter = 0x1.8p23f;
  constexpr float kMin = -87.0f;
  constexpr float kMax = 88.0f;
  const auto [too_small, too_large, shifted, r] =
      reduce_exp_argument<kHighClamp>(x, kMin, kMax, kLog2e, kShifter, kLn2Hi, kLn2Lo);
  constexpr float kCoefficients[] = {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                                     1.6666665459e-1f, 5.0000001201e-1f};
  V p = fill<V>(1.9875691500e-4);
  for (float c : kCoefficients) p = horner_step(p, r, fill<V>(c));
  p = horner_step(p, r * r, r) + 1.0f;
  const I ki = __builtin_bit_cast(I, shifted) - std::int32_t{0x4B400000};  // bits of kShifter
  const I scale_bits = (ki + std::int32_t{127}) << 23;
  const V result = p * __builtin_bit_cast(V, scale_bits);
  const V with_low = select(too_small, fill<V>(0.0), result);
  if constexpr (kHighClamp) return select(too_large, fill<V>(__builtin_inff()), with_low);
  return with_low;
}

/// e^x lane-wise for any argument (exp_f64 / exp_f32 by the pack's scalar).
template <AnyPack V>
[[gnu::always_inline]] inline V exp(V x) {
  if constexpr (std::is_same_v<scalar_of<V>, double>)
    return exp_f64<true>(x);
  else
    return exp_f32<true>(x);
}

/// e^x for x ≤ 0 or NaN (the engine's e^{s − m}, m the running maximum): the same bits as exp()
/// there, without the overflow clamp.
template <AnyPack V>
[[gnu::always_inline]] inline V exp_nonpositive(V x) {
  if constexpr (std::is_same_v<scalar_of<V>, double>)
    return exp_f64<false>(x);
  else
    return exp_f32<false>(x);
}

// The widths: how many native registers make up the engine's lanes for each instruction set, and
// the register blocking of the engine's passes (stream_attention.hpp): pass 1 holds kQueryGroup ×
// kScoreChunks score accumulators, pass 3 kQueryGroup × kValueComponents value accumulators, each
// of kParts registers, which should fit the width's register file (32 for AVX-512, 16 for AVX2
// and SSE2). The AVX-512 and AVX2 values are the fastest of those measured with `attnflow bench
// velocity --n 16384 --d 3|64 --threads 1 --simd W` (AVX2, d = 64: (2, 2, 2) 2.79 s, (2, 2, 4)
// 2.98 s, (2, 4, 2) 2.95 s, (1, 4, 4) 3.06 s); SSE2's were not tuned. None of them changes a bit
// of the result.
/// A width: K registers of Doubles (or Floats in the float32 engine) per vector of lanes, and the
/// register blocking (G, C, R) = (kQueryGroup, kScoreChunks, kValueComponents).
template <class Doubles, class Floats, int K, int G, int C, int R>
struct VectorWidth {
  template <class T>
  using vec = Pack<std::conditional_t<std::is_same_v<T, double>, Doubles, Floats>, K>;
  static constexpr int kQueryGroup = G;
  static constexpr int kScoreChunks = C;
  static constexpr int kValueComponents = R;
  static_assert(vec<double>::kLanes == kLanesOf<double>, "a width holds the engine's lanes");
  static_assert(vec<float>::kLanes == kLanesOf<float>, "a width holds the engine's lanes");
};
/// AVX-512: one 64-byte register.
using Width512 = VectorWidth<v8d, v16f, 1, 4, 4, 4>;
/// AVX2: two 32-byte registers.
using Width256 = VectorWidth<v4d, v8f, 2, 2, 2, 2>;
/// SSE2 (baseline x86-64) and other 16-byte vector units: four registers.
using Width128 = VectorWidth<v2d, v4f, 4, 2, 2, 2>;

}  // namespace attnflow::simd
