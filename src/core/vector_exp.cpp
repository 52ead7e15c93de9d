#include "attnflow/vector_exp.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include "attnflow/simd.hpp"

namespace attnflow {

namespace {

template <class V, class T>
[[gnu::always_inline]] inline void exp_lanes(const T* x, T* y, std::size_t n) {
  constexpr std::size_t kL = V::kLanes;
  std::size_t i = 0;
  for (; i + kL <= n; i += kL) simd::store(y + i, simd::exp(simd::load<V>(x + i)));
  if (i < n) {
    T in[kL] = {}, out[kL];
    std::copy(x + i, x + n, in);
    simd::store(out, simd::exp(simd::load<V>(in)));
    std::copy(out, out + (n - i), y + i);
  }
}

#define ATTNFLOW_EXP_AT(target, Width, suffix)                             \
  target void exp##suffix(const double* x, double* y, std::size_t n) {     \
    exp_lanes<simd::Width::vec<double>>(x, y, n);                          \
  }                                                                        \
  target void exp##suffix##_f32(const float* x, float* y, std::size_t n) { \
    exp_lanes<simd::Width::vec<float>>(x, y, n);                           \
  }
ATTNFLOW_EXP_AT(ATTNFLOW_TARGET_512, Width512, _512)
ATTNFLOW_EXP_AT(ATTNFLOW_TARGET_256, Width256, _256)
ATTNFLOW_EXP_AT(, Width128, _128)
#undef ATTNFLOW_EXP_AT

}  // namespace

void exp_at_width(SimdWidth width, std::span<const double> x, std::span<double> y) {
  if (x.size() != y.size()) throw std::invalid_argument("exp_at_width: x and y differ in length");
  if (!simd_width_supported(width)) throw std::invalid_argument("exp_at_width: unsupported width");
  using Fn = void (*)(const double*, double*, std::size_t);
  pick_width<Fn>(width, exp_512, exp_256, exp_128)(x.data(), y.data(), x.size());
}

void exp_at_width(SimdWidth width, std::span<const float> x, std::span<float> y) {
  if (x.size() != y.size()) throw std::invalid_argument("exp_at_width: x and y differ in length");
  if (!simd_width_supported(width)) throw std::invalid_argument("exp_at_width: unsupported width");
  using Fn = void (*)(const float*, float*, std::size_t);
  pick_width<Fn>(width, exp_512_f32, exp_256_f32, exp_128_f32)(x.data(), y.data(), x.size());
}

}  // namespace attnflow
