// `attnflow bench velocity`: throughput of one velocity evaluation, as one JSON object.
// A measurement tool, not a test: bench/peers/ compares it side by side with NumPy and PyTorch.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/init.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/measure.hpp"
#include "commands.hpp"

namespace attnflow::cli {

Action add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Measure engine throughput (JSON)");
  bench->require_subcommand(1);
  CLI::App* vel = bench->add_subcommand(
      "velocity", "One velocity evaluation: Q = K = V = I, uniform tokens on the sphere");
  struct Options {
    long n = 4096;
    long d = 3;
    std::string kernel = "softmax";
    std::string geometry = "sphere";
    double beta = 1.0;
    int threads = 0;
    double min_seconds = 1.0;
  };
  auto opt = std::make_shared<Options>();
  vel->add_option("--n", opt->n, "number of tokens")->check(CLI::PositiveNumber);
  vel->add_option("--d", opt->d, "dimension")->check(CLI::PositiveNumber);
  vel->add_option("--kernel", opt->kernel, "attention kernel: " + kernel_names());
  vel->add_option("--geometry", opt->geometry, "euclidean or sphere");
  vel->add_option("--beta", opt->beta, "inverse temperature")->check(CLI::PositiveNumber);
  vel->add_option("--threads", opt->threads, "OpenMP threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  vel->add_option("--min-seconds", opt->min_seconds, "measure for at least this long")
      ->check(CLI::PositiveNumber);
  return [opt]() {
    set_threads(opt->threads);
    const KernelKind kernel = kernel_from_name(opt->kernel, "--kernel");
    const Geometry geometry = geometry_from_name(opt->geometry, "--geometry");
    const Measure m = uniform_measure(sample_uniform_sphere(opt->n, opt->d, 1));
    Dynamics dynamics(AttentionField(identity_model(opt->d, opt->beta, kernel, geometry), m.weights,
                                     m.positions));
    Matrix v;
    dynamics.velocity(0.0, m.x, v);  // warm-up: allocations, page faults
    std::vector<double> times;
    double total = 0.0;
    while (total < opt->min_seconds || times.size() < 3) {
      const auto start = std::chrono::steady_clock::now();
      dynamics.velocity(0.0, m.x, v);
      times.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      total += times.back();
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double pairs = static_cast<double>(opt->n) * static_cast<double>(opt->n);
    nlohmann::json j;
    j["benchmark"] = "velocity";
    j["n"] = opt->n;
    j["d"] = opt->d;
    j["kernel"] = opt->kernel;
    j["geometry"] = opt->geometry;
    j["beta"] = opt->beta;
    j["threads"] = omp_get_max_threads();
    j["repeats"] = times.size();
    j["seconds"] = median;
    j["seconds_min"] = times.front();
    j["pairs_per_second"] = pairs / median;
    j["checksum"] = v.sum();
    std::cout << j.dump() << "\n";
    return 0;
  };
}

}  // namespace attnflow::cli
