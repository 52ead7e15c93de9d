// `attnflow bench velocity | roofline | batch`: engine throughput, as one JSON object each.
// Measurement tools, not tests: bench/peers/ compares them side by side with NumPy and PyTorch.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/init.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/io/config.hpp"
#include "attnflow/io/npy.hpp"
#include "attnflow/io/run.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/roofline.hpp"
#include "attnflow/simd_dispatch.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// The 1-minute load average (/proc/loadavg; −1 where unavailable): how shared the machine was.
double load_average() {
  std::ifstream f("/proc/loadavg");
  double load = -1.0;
  f >> load;
  return f ? load : -1.0;
}

/// Wall and CPU seconds of repeated velocity evaluations (after a warm-up), at least min_seconds.
struct VelocityTiming {
  double median = 0.0;   ///< wall
  double min = 0.0;      ///< wall
  double cpu_min = 0.0;  ///< process CPU seconds (all threads) of the fastest-CPU repeat
  std::size_t repeats = 0;
  double checksum = 0.0;
  Matrix velocity;  ///< the last evaluation's velocity
};

/// The benchmark's model: one head Q = K = V = I in the given precision.
Model bench_model(Index d, double beta, KernelKind kernel, Geometry geometry, Precision precision) {
  Model model = identity_model(d, beta, kernel, geometry);
  model.precision = precision;
  validate_model(model, d);
  return model;
}

VelocityTiming time_velocity(Index n, Index d, KernelKind kernel, Geometry geometry, double beta,
                             double min_seconds, Precision precision = Precision::float64) {
  const Measure m = uniform_measure(sample_uniform_sphere(n, d, 1));
  Dynamics dynamics(
      AttentionField(bench_model(d, beta, kernel, geometry, precision), m.weights, m.positions));
  Matrix v;
  dynamics.velocity(0.0, m.x, v);  // warm-up: allocations, page faults
  std::vector<double> times, cpu;
  double total = 0.0;
  while (total < min_seconds || times.size() < 3) {
    const double c0 = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    dynamics.velocity(0.0, m.x, v);
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu.push_back(process_cpu_seconds() - c0);
    total += times.back();
  }
  VelocityTiming t;
  t.repeats = times.size();
  t.cpu_min = *std::min_element(cpu.begin(), cpu.end());
  std::sort(times.begin(), times.end());
  t.median = times[times.size() / 2];
  t.min = times.front();
  t.checksum = v.sum();
  t.velocity = std::move(v);
  return t;
}

/// Accuracy of a velocity against a float64 reference of the same problem: the largest error of
/// a token relative to its own velocity, max_i |v_i − r_i| / |r_i|, and relative to the largest
/// velocity, max_i |v_i − r_i| / max_i |r_i| (Euclidean norms of the rows).
nlohmann::json velocity_accuracy(const Matrix& v, const Matrix& reference) {
  double worst_token = 0.0, worst_abs = 0.0, largest = 0.0;
  for (Index i = 0; i < v.rows(); ++i) {
    const double err = (v.row(i) - reference.row(i)).norm();
    const double size = reference.row(i).norm();
    worst_abs = std::max(worst_abs, err);
    largest = std::max(largest, size);
    if (size > 0.0) worst_token = std::max(worst_token, err / size);
  }
  return {{"max_relative_error_per_token", worst_token},
          {"max_error_relative_to_largest", largest > 0.0 ? worst_abs / largest : 0.0},
          {"max_abs_error", worst_abs},
          {"largest_velocity", largest}};
}

void require_positive(double value, const std::string& key) {
  if (!(value > 0.0) || !std::isfinite(value))
    throw InputError(key, "must be finite and > 0, got " + format_number(value));
}

void require_at_least(long value, long low, const std::string& key) {
  if (value < low)
    throw InputError(key,
                     "must be at least " + std::to_string(low) + ", got " + std::to_string(value));
}

/// --simd: the engine's vector width for this benchmark (empty: ATTNFLOW_SIMD or the widest).
void add_simd_option(CLI::App* cmd, std::string& simd) {
  cmd->add_option("--simd", simd,
                  "vector width: avx512, avx2 or sse2 (default: $ATTNFLOW_SIMD, else the widest "
                  "this CPU supports)");
}
void apply_simd_option(const std::string& simd) {
  if (!simd.empty()) set_simd_width(parse_simd_width(simd, "--simd"), "--simd");
}
std::string active_simd_name() {
  return std::string(simd_width_name(active_simd_width()));
}

nlohmann::json rate_json(const roofline::Rate& r) {
  return {{"one_thread", r.per_second_one_thread},
          {"all_threads", r.per_second_all_threads},
          {"all_threads_wall", r.wall_per_second_all_threads},
          {"all_threads_count", r.threads}};
}

Action add_velocity(CLI::App* bench) {
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
    std::string precision = "float64";
    std::string simd;
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
  vel->add_option("--precision", opt->precision,
                  "engine precision: float64 or float32 (float32 also reports its error against "
                  "one float64 evaluation)");
  add_simd_option(vel, opt->simd);
  return [opt]() {
    apply_simd_option(opt->simd);
    set_threads(opt->threads);
    const KernelKind kernel = kernel_from_name(opt->kernel, "--kernel");
    const Geometry geometry = geometry_from_name(opt->geometry, "--geometry");
    const Precision precision = precision_from_name(opt->precision, "--precision");
    const VelocityTiming t =
        time_velocity(opt->n, opt->d, kernel, geometry, opt->beta, opt->min_seconds, precision);
    const double pairs = static_cast<double>(opt->n) * static_cast<double>(opt->n);
    nlohmann::json j;
    j["benchmark"] = "velocity";
    j["n"] = opt->n;
    j["d"] = opt->d;
    j["kernel"] = opt->kernel;
    j["geometry"] = opt->geometry;
    j["beta"] = opt->beta;
    j["precision"] = opt->precision;
    j["simd"] = active_simd_name();
    j["threads"] = omp_get_max_threads();
    j["repeats"] = t.repeats;
    j["seconds"] = t.median;
    j["seconds_min"] = t.min;
    j["cpu_seconds_min"] = t.cpu_min;
    j["pairs_per_second"] = pairs / t.median;
    j["load_average"] = load_average();
    j["checksum"] = t.checksum;
    if (precision != Precision::float64) {
      // One float64 evaluation of the same tokens, after the timing.
      const Measure m = uniform_measure(sample_uniform_sphere(opt->n, opt->d, 1));
      Dynamics reference(
          AttentionField(bench_model(opt->d, opt->beta, kernel, geometry, Precision::float64),
                         m.weights, m.positions));
      Matrix r;
      reference.velocity(0.0, m.x, r);
      j["accuracy_vs_float64"] = velocity_accuracy(t.velocity, r);
    }
    std::cout << j.dump() << "\n";
    return 0;
  };
}

Action add_roofline(CLI::App* bench) {
  CLI::App* cmd = bench->add_subcommand(
      "roofline",
      "Measured exp and mul-add peaks, the per-pair bound, and the fused kernel's fraction of it");
  struct Options {
    long n = 16384;
    std::vector<long> d{3, 64};
    int threads = 1;
    double min_seconds = 1.0;
    std::string simd;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--n", opt->n, "number of tokens of the velocity evaluation");
  cmd->add_option("--d", opt->d, "dimensions of the velocity evaluations");
  cmd->add_option("--threads", opt->threads,
                  "threads of the velocity evaluation (0: all cores); the microbenchmarks run on "
                  "one thread and on all cores");
  cmd->add_option("--min-seconds", opt->min_seconds,
                  "measure each quantity for at least this long");
  add_simd_option(cmd, opt->simd);
  return [opt]() {
    apply_simd_option(opt->simd);
    require_at_least(opt->n, 1, "--n");
    for (long d : opt->d) require_at_least(d, 1, "--d");
    require_at_least(opt->threads, 0, "--threads");
    require_positive(opt->min_seconds, "--min-seconds");
    const int cores = omp_get_num_procs();
    const double load_before = load_average();
    const roofline::Rate exp_rate = roofline::measure_exp_rate(cores, opt->min_seconds);
    const roofline::Rate mul_add_rate = roofline::measure_mul_add_rate(cores, opt->min_seconds);
    set_threads(opt->threads);
    const int threads = omp_get_max_threads();
    // Rates for `threads` threads: the one-thread peak, or the all-core peak per core × threads.
    auto at = [&](const roofline::Rate& r) {
      return threads == 1 ? r.per_second_one_thread
                          : r.per_second_all_threads / cores * std::min(threads, cores);
    };
    nlohmann::json j;
    j["benchmark"] = "roofline";
    j["simd"] = active_simd_name();
    j["cores"] = cores;
    j["threads"] = threads;
    j["exps_per_second"] = rate_json(exp_rate);
    j["mul_adds_per_second"] = rate_json(mul_add_rate);
    j["flops_per_second_one_thread"] = 2.0 * mul_add_rate.per_second_one_thread;
    j["cost_model"] =
        "per pair: 1 exp + (k + dv) mul-adds + 5 single ops (= 1/2 mul-add each); "
        "bound_pairs_per_s = 1 / (exps / exp_rate + (mul_adds + single_ops / 2) / mul_add_rate)";
    j["timing"] =
        "rates from CPU time (thread CPU clock, min over repeats), so that a shared machine "
        "does not count others' time; *_wall fields from wall time";
    j["cases"] = nlohmann::json::array();
    for (long d : opt->d) {
      const roofline::PairCost cost = roofline::softmax_pair_cost(d, d);
      const double bound = roofline::bound_pairs_per_second(cost, at(exp_rate), at(mul_add_rate));
      const VelocityTiming t =
          time_velocity(opt->n, d, KernelKind::softmax, Geometry::sphere, 1.0, opt->min_seconds);
      const double pairs = static_cast<double>(opt->n) * static_cast<double>(opt->n);
      const double measured = pairs / (t.cpu_min / threads);
      nlohmann::json c;
      c["n"] = opt->n;
      c["d"] = d;
      c["pair_cost"] = {
          {"exps", cost.exps}, {"mul_adds", cost.mul_adds}, {"single_ops", cost.single_ops}};
      c["bound_pairs_per_second"] = bound;
      c["measured_pairs_per_second"] = measured;
      c["fraction_of_bound"] = measured / bound;
      c["measured_pairs_per_second_wall"] = pairs / t.min;
      c["fraction_of_bound_wall"] = pairs / t.min / bound;
      c["seconds_min"] = t.min;
      c["cpu_seconds_min"] = t.cpu_min;
      c["checksum"] = t.checksum;
      j["cases"].push_back(c);
    }
    j["load_average"] = {load_before, load_average()};
    j["checksum"] = exp_rate.checksum + mul_add_rate.checksum;
    std::cout << j.dump() << "\n";
    return 0;
  };
}

Action add_batch(CLI::App* bench) {
  CLI::App* cmd = bench->add_subcommand(
      "batch",
      "Many independent small systems (SA on the sphere, Q = K = V = I): systems·steps per second");
  struct Options {
    long n = 32;
    long d = 128;
    long systems = 2048;
    long steps = 10;
    std::string method = "euler";
    double dt = 0.1;
    double beta = 1.0;
    long seed = 1;
    int threads = 0;
    long repeats = 3;
    std::string output;
    std::string precision = "float64";
    std::string simd;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--n", opt->n, "tokens per system");
  cmd->add_option("--d", opt->d, "dimension");
  cmd->add_option("--systems", opt->systems, "number of independent systems B");
  cmd->add_option("--steps", opt->steps, "steps per system");
  cmd->add_option("--method", opt->method, "euler or rk4");
  cmd->add_option("--dt", opt->dt, "step");
  cmd->add_option("--beta", opt->beta, "inverse temperature");
  cmd->add_option("--seed", opt->seed, "system s starts from init.seed = seed + s");
  cmd->add_option("--threads", opt->threads, "OpenMP threads over systems (0: all cores)");
  cmd->add_option("--repeats", opt->repeats, "timed repeats (the fastest is reported)");
  cmd->add_option("--output", opt->output, "write the final states (B × n × d, float64) as .npy");
  cmd->add_option("--precision", opt->precision, "model.precision: float64 or float32");
  add_simd_option(cmd, opt->simd);
  return [opt]() {
    apply_simd_option(opt->simd);
    require_at_least(opt->n, 1, "--n");
    require_at_least(opt->d, 2, "--d");
    require_at_least(opt->systems, 1, "--systems");
    require_at_least(opt->steps, 1, "--steps");
    require_positive(opt->dt, "--dt");
    require_positive(opt->beta, "--beta");
    require_at_least(opt->seed, 0, "--seed");
    require_at_least(opt->threads, 0, "--threads");
    require_at_least(opt->repeats, 1, "--repeats");
    const Method method = method_from_name(opt->method, "--method");
    if (method == Method::dopri5)
      throw InputError("--method", "must be a fixed-step method: euler or rk4, got 'dopri5'");
    const Precision precision = precision_from_name(opt->precision, "--precision");
    set_threads(opt->threads);
    // Exactly what `attnflow run` does with this configuration and init.seed = seed + s.
    std::ostringstream text;
    text << "[model]\ngeometry = \"sphere\"\nkernel = \"softmax\"\nprecision = \""
         << precision_name(precision) << "\"\nbeta = " << format_number(opt->beta)
         << "\n[init]\nkind = \"uniform_sphere\"\nn = " << opt->n << "\nd = " << opt->d
         << "\nseed = 0\n[integrate]\nmethod = \"" << opt->method
         << "\"\ndt = " << format_number(opt->dt)
         << "\nt_end = " << format_number(opt->dt * static_cast<double>(opt->steps))
         << "\n[output]\nobservables = []\n";
    const io::RunConfig base = io::parse_config(text.str(), {}, ".");
    const std::vector<double> times{0.0, base.t_end};
    const auto n_systems = static_cast<std::size_t>(opt->systems);
    const std::size_t per_system = static_cast<std::size_t>(opt->n * opt->d);
    std::vector<double> final_states(n_systems * per_system);
    std::vector<std::uint64_t> steps(n_systems);
    // Initial states (sampling, validation) are made before the clock starts: the peers are
    // timed from given initial states too.
    std::vector<Measure> initial(n_systems);
#pragma omp parallel for schedule(static)
    for (std::int64_t item = 0; item < opt->systems; ++item) {
      io::InitConfig init = base.init;
      init.seed = static_cast<std::uint64_t>(opt->seed) + static_cast<std::uint64_t>(item);
      initial[static_cast<std::size_t>(item)] = io::initial_measure(init, base.model.geometry);
    }
    double best = 1e300, best_cpu = 1e300;
    for (long r = 0; r < opt->repeats; ++r) {
      const double c0 = process_cpu_seconds();
      const auto start = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static)
      for (std::int64_t item = 0; item < opt->systems; ++item) {
        const auto s = static_cast<std::size_t>(item);
        const Measure& m = initial[s];
        Dynamics dynamics(AttentionField(base.model, m.weights, m.positions));
        Matrix x = m.x;
        steps[s] =
            integrate(dynamics, x, times, base.integrate, [](std::size_t, double, const Matrix&) {
            }).steps;
        // Row-major n × d, as `attnflow run` writes x.
        for (Index i = 0; i < x.rows(); ++i)
          for (Index c = 0; c < x.cols(); ++c)
            final_states[s * per_system + static_cast<std::size_t>(i * opt->d + c)] = x(i, c);
      }
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      best_cpu = std::min(best_cpu, process_cpu_seconds() - c0);
    }
    double system_steps = 0.0, checksum = 0.0;
    for (std::uint64_t k : steps) system_steps += static_cast<double>(k);
    for (double v : final_states) checksum += v;
    const int threads = omp_get_max_threads();
    if (!opt->output.empty())
      io::write_npy_atomic(
          opt->output,
          {n_systems, static_cast<std::size_t>(opt->n), static_cast<std::size_t>(opt->d)},
          final_states.data());
    nlohmann::json j;
    j["benchmark"] = "batch";
    j["n"] = opt->n;
    j["d"] = opt->d;
    j["systems"] = opt->systems;
    j["steps"] = opt->steps;
    j["method"] = opt->method;
    j["dt"] = opt->dt;
    j["beta"] = opt->beta;
    j["precision"] = opt->precision;
    j["simd"] = active_simd_name();
    j["threads"] = threads;
    j["repeats"] = opt->repeats;
    j["seconds_min"] = best;
    j["cpu_seconds_min"] = best_cpu;
    j["system_steps_per_second"] = system_steps / best;
    j["system_steps_per_cpu_second_per_thread"] = system_steps / (best_cpu / threads);
    j["load_average"] = load_average();
    j["checksum"] = checksum;
    std::cout << j.dump() << "\n";
    return 0;
  };
}

}  // namespace

Action add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Measure engine throughput (JSON)");
  bench->require_subcommand(1);
  Action velocity = add_velocity(bench);
  Action roofline_action = add_roofline(bench);
  Action batch = add_batch(bench);
  CLI::App* vel = bench->get_subcommand("velocity");
  CLI::App* roof = bench->get_subcommand("roofline");
  return [=]() {
    if (vel->parsed()) return velocity();
    if (roof->parsed()) return roofline_action();
    return batch();
  };
}

}  // namespace attnflow::cli
