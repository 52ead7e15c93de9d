#include "attnflow/vector_exp.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include "attnflow/simd.hpp"

namespace attnflow {

namespace {

/// y = f(x) lane-wise with f simd::exp (kNonPositive false) or simd::exp_nonpositive.
template <class V, bool kNonPositive, class T>
[[gnu::always_inline]] inline void exp_lanes(const T* x, T* y, std::size_t n) {
  constexpr std::size_t kL = V::kLanes;
  auto f = [](V v) __attribute__((always_inline)) {
    return kNonPositive ? simd::exp_nonpositive(v) : simd::exp(v);
  };
  std::size_t i = 0;
  for (; i + kL <= n; i += kL) simd::store(y + i, f(simd::load<V>(x + i)));
  if (i < n) {
    T in[kL] = {}, out[kL];
    std::copy(x + i, x + n, in);
    simd::store(out, f(simd::load<V>(in)));
    std::copy(out, out + (n - i), y + i);
  }
}

#define ATTNFLOW_EXP_AT(target, Width, suffix)                                               \
  target void exp##suffix(const double* x, double* y, std::size_t n, bool nonpositive) {     \
    if (nonpositive)                                                                         \
      exp_lanes<simd::Width::vec<double>, true>(x, y, n);                                    \
    else                                                                                     \
      exp_lanes<simd::Width::vec<double>, false>(x, y, n);                                   \
  }                                                                                          \
  target void exp##suffix##_f32(const float* x, float* y, std::size_t n, bool nonpositive) { \
    if (nonpositive)                                                                         \
      exp_lanes<simd::Width::vec<float>, true>(x, y, n);                                     \
    else                                                                                     \
      exp_lanes<simd::Width::vec<float>, false>(x, y, n);                                    \
  }
ATTNFLOW_EXP_AT(ATTNFLOW_TARGET_512, Width512, _512)
ATTNFLOW_EXP_AT(ATTNFLOW_TARGET_256, Width256, _256)
ATTNFLOW_EXP_AT(, Width128, _128)
#undef ATTNFLOW_EXP_AT

}  // namespace

namespace {

template <class T, class Fn>
void run_exp(SimdWidth width, std::span<const T> x, std::span<T> y, bool nonpositive, Fn wide,
             Fn middle, Fn narrow) {
  if (x.size() != y.size()) throw std::invalid_argument("exp_at_width: x and y differ in length");
  if (!simd_width_supported(width)) throw std::invalid_argument("exp_at_width: unsupported width");
  pick_width<Fn>(width, wide, middle, narrow)(x.data(), y.data(), x.size(), nonpositive);
}

}  // namespace

void exp_at_width(SimdWidth width, std::span<const double> x, std::span<double> y) {
  run_exp(width, x, y, false, exp_512, exp_256, exp_128);
}
void exp_at_width(SimdWidth width, std::span<const float> x, std::span<float> y) {
  run_exp(width, x, y, false, exp_512_f32, exp_256_f32, exp_128_f32);
}
void exp_nonpositive_at_width(SimdWidth width, std::span<const double> x, std::span<double> y) {
  run_exp(width, x, y, true, exp_512, exp_256, exp_128);
}
void exp_nonpositive_at_width(SimdWidth width, std::span<const float> x, std::span<float> y) {
  run_exp(width, x, y, true, exp_512_f32, exp_256_f32, exp_128_f32);
}

}  // namespace attnflow
