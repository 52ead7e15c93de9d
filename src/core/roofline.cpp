#include "attnflow/roofline.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <vector>

#include "attnflow/simd.hpp"
#include "attnflow/simd_dispatch.hpp"

namespace attnflow::roofline {

PairCost softmax_pair_cost(Index k, Index dv) {
  PairCost c;
  c.exps = 1.0;
  c.mul_adds = static_cast<double>(k + dv);
  c.single_ops = 5.0;  // · β, + log w, max, − m, lane sum
  return c;
}

double mul_add_equivalents(const PairCost& cost) {
  return cost.mul_adds + 0.5 * cost.single_ops;
}

double bound_pairs_per_second(const PairCost& cost, double exp_rate, double mul_add_rate) {
  if (!(exp_rate > 0.0) || !(mul_add_rate > 0.0))
    throw std::invalid_argument("bound_pairs_per_second: rates must be > 0");
  return 1.0 / (cost.exps / exp_rate + mul_add_equivalents(cost) / mul_add_rate);
}

namespace {

constexpr Index kExpLength = 2048;           // 16 KiB in + 16 KiB out: L1-resident
constexpr long kExpSweeps = 2000;            // 4.1·10⁶ exps per call
constexpr long kMulAddIterations = 500'000;  // × 8 lanes × chains mul-adds per call

// Same dispatch as the engine (dispatch.cpp): one function per vector width, the active width
// picked at run time.
template <class V>
[[gnu::always_inline]] inline double exp_sweeps_at(const double* in, double* out, long sweeps) {
  for (long r = 0; r < sweeps; ++r) {
    for (Index j = 0; j < kExpLength; j += kLanes)
      simd::store(out + j, simd::exp_nonpositive(simd::load<V>(in + j)));
    asm volatile("" : : "r"(out) : "memory");  // every sweep's stores happen
  }
  double s = 0.0;
  for (Index j = 0; j < kExpLength; ++j) s += out[j];
  return s;
}

// a ← mul_add(a, m, c) (= a · m + c) converges to c / (1 − m): no overflow, no subnormals. Enough
// independent chains must be in flight to cover the latency of one mul_add: 8 fill the 16 AVX2
// registers, 16 are needed on cores with two 512-bit pipes; both are measured and the faster one
// kept.
template <int kChains, class V>
[[gnu::always_inline]] inline double mul_add_chains_at(long iterations, double m_in, double c_in) {
  V a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = simd::fill<V>(1.0 + 0.125 * k);
  const V m = simd::fill<V>(m_in);
  const V c = simd::fill<V>(c_in);
  for (long i = 0; i < iterations; ++i)
    for (int k = 0; k < kChains; ++k) a[k] = simd::mul_add(a[k], m, c);
  V total{};
  for (int k = 0; k < kChains; ++k) total += a[k];
  return simd::horizontal_sum(total);
}

using ExpSweeps = double (*)(const double*, double*, long);
using MulAddChains = double (*)(long, double, double);

#define ATTNFLOW_ROOFLINE_AT(target, Width, suffix)                              \
  target double exp_sweeps##suffix(const double* in, double* out, long sweeps) { \
    return exp_sweeps_at<simd::Width::vec<double>>(in, out, sweeps);             \
  }                                                                              \
  target double mul_add_chains_8##suffix(long iterations, double m, double c) {  \
    return mul_add_chains_at<8, simd::Width::vec<double>>(iterations, m, c);     \
  }                                                                              \
  target double mul_add_chains_16##suffix(long iterations, double m, double c) { \
    return mul_add_chains_at<16, simd::Width::vec<double>>(iterations, m, c);    \
  }
ATTNFLOW_ROOFLINE_AT(ATTNFLOW_TARGET_512, Width512, _512)
ATTNFLOW_ROOFLINE_AT(ATTNFLOW_TARGET_256, Width256, _256)
ATTNFLOW_ROOFLINE_AT(, Width128, _128)
#undef ATTNFLOW_ROOFLINE_AT

double exp_sweeps(const double* in, double* out, long sweeps) {
  return pick_width<ExpSweeps>(active_simd_width(), exp_sweeps_512, exp_sweeps_256, exp_sweeps_128)(
      in, out, sweeps);
}
double mul_add_chains_8(long iterations, double m, double c) {
  return pick_width<MulAddChains>(active_simd_width(), mul_add_chains_8_512, mul_add_chains_8_256,
                                  mul_add_chains_8_128)(iterations, m, c);
}
double mul_add_chains_16(long iterations, double m, double c) {
  return pick_width<MulAddChains>(active_simd_width(), mul_add_chains_16_512, mul_add_chains_16_256,
                                  mul_add_chains_16_128)(iterations, m, c);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Runs call() (which does `work` units and returns a checksum) on one thread and then on all
/// `threads`, each for at least min_seconds, keeping the fastest repeat.
template <class Call>
Rate measure(int threads, double min_seconds, double work, Call&& call) {
  Rate rate;
  rate.threads = threads;
  double best = 1e300, total = 0.0;
  call();  // warm-up
  for (int r = 0; total < min_seconds || r < 3; ++r) {
    const double t0 = thread_cpu_seconds();
    rate.checksum += call();
    const double t = thread_cpu_seconds() - t0;
    best = std::min(best, t);
    total += t;
  }
  rate.per_second_one_thread = work / best;
  double best_wall = 1e300, best_sum_rate = 0.0;
  total = 0.0;
  for (int r = 0; total < min_seconds || r < 3; ++r) {
    std::vector<double> cpu(static_cast<std::size_t>(threads));
    double checksum = 0.0;
    const double w0 = wall_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : checksum)
    {
      const double t0 = thread_cpu_seconds();
      checksum += call();
      cpu[static_cast<std::size_t>(omp_get_thread_num())] = thread_cpu_seconds() - t0;
    }
    const double wall = wall_seconds() - w0;
    rate.checksum += checksum;
    double sum_rate = 0.0;
    for (double t : cpu) sum_rate += work / t;
    best_sum_rate = std::max(best_sum_rate, sum_rate);
    best_wall = std::min(best_wall, wall);
    total += wall;
  }
  rate.per_second_all_threads = best_sum_rate;
  rate.wall_per_second_all_threads = static_cast<double>(threads) * work / best_wall;
  return rate;
}

}  // namespace

Rate measure_exp_rate(int threads, double min_seconds) {
  std::vector<double> in(kExpLength);
  for (Index j = 0; j < kExpLength; ++j)
    in[static_cast<std::size_t>(j)] = -20.0 * static_cast<double>(j) / kExpLength;
  return measure(threads, min_seconds, static_cast<double>(kExpLength) * kExpSweeps, [&in]() {
    std::vector<double> out(kExpLength);
    return exp_sweeps(in.data(), out.data(), kExpSweeps);
  });
}

Rate measure_mul_add_rate(int threads, double min_seconds) {
  volatile double m = 0.999999, c = 1e-6;  // opaque to the compiler
  const Rate r8 = measure(threads, min_seconds, static_cast<double>(kMulAddIterations) * 8 * kLanes,
                          [&]() { return mul_add_chains_8(kMulAddIterations, m, c); });
  const Rate r16 =
      measure(threads, min_seconds, static_cast<double>(kMulAddIterations) * 16 * kLanes,
              [&]() { return mul_add_chains_16(kMulAddIterations, m, c); });
  Rate best = r8.per_second_one_thread >= r16.per_second_one_thread ? r8 : r16;
  best.per_second_all_threads = std::max(r8.per_second_all_threads, r16.per_second_all_threads);
  best.wall_per_second_all_threads =
      std::max(r8.wall_per_second_all_threads, r16.wall_per_second_all_threads);
  best.checksum = r8.checksum + r16.checksum;
  return best;
}

}  // namespace attnflow::roofline
