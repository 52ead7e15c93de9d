// One velocity evaluation of SA on the sphere (Q = K = V = I, β = 1, float64): pairs per second
// for N ∈ {4096, 65536}, d ∈ {3, 64}. Run with `make bench`; peers are compared in bench/peers/.
#include <benchmark/benchmark.h>

#include "attnflow/dynamics.hpp"
#include "attnflow/init.hpp"
#include "attnflow/measure.hpp"

namespace {

void BM_VelocitySoftmaxSphere(benchmark::State& state) {
  const auto n = static_cast<attnflow::Index>(state.range(0));
  const auto d = static_cast<attnflow::Index>(state.range(1));
  const attnflow::Measure m = attnflow::uniform_measure(attnflow::sample_uniform_sphere(n, d, 1));
  attnflow::Dynamics dynamics(
      attnflow::AttentionField(attnflow::identity_model(d, 1.0), m.weights, m.positions));
  attnflow::Matrix v;
  for (auto _ : state) {
    dynamics.velocity(0.0, m.x, v);
    benchmark::DoNotOptimize(v.data());
    benchmark::ClobberMemory();
  }
  const double pairs = static_cast<double>(n) * static_cast<double>(n);
  state.counters["pairs_per_second"] =
      benchmark::Counter(pairs, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_VelocitySoftmaxSphere)
    ->ArgNames({"n", "d"})
    ->Args({4096, 3})
    ->Args({4096, 64})
    ->Args({65536, 3})
    ->Args({65536, 64})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
