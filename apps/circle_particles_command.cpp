// `attnflow circle-particles`: given tokens on S¹ in angle coordinates at any β, in the flow's time
// or in arc-length (normalised-gradient) time with coincident tokens snapped together ([R] §5.2,
// the metastable staircase) → OUTDIR/particles.h5, OUTDIR/summary.json.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>

#include "attnflow/arc_length_flow.hpp"
#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/reduce_config.hpp"
#include "attnflow/io/run_writer.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/reduce/circle.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

std::string pattern_text(const std::vector<Index>& sizes) {
  std::string s;
  for (Index k : sizes) s += (s.empty() ? "" : "+") + std::to_string(k);
  return s;
}

}  // namespace

Action add_circle_particles_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "circle-particles",
      "Tokens on the circle in angle coordinates at any beta, in flow time or arc-length "
      "(normalised-gradient) time -> particles.h5");
  struct Options {
    std::string config;
    std::string outdir;
    std::vector<std::string> overrides;
    int threads = 0;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("config", opt->config,
                  "TOML file: [model] kernel (usa | softmax), beta; [init] angles, weights; "
                  "[integrate] time (flow | arc_length), method, rtol, atol, dt, t_end, "
                  "snap_distance; [output] times | every, cluster_distance")
      ->required();
  cmd->add_option("-o,--output", opt->outdir, "output directory")->required();
  cmd->add_option("--set", opt->overrides, "override a key: section.key=value (repeatable)");
  cmd->add_option("--threads", opt->threads, "OpenMP threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", opt->quiet, "no report on stdout");
  return [opt]() {
    set_threads(opt->threads);
    const io::CircleParticlesConfig cfg =
        io::load_circle_particles_config(opt->config, opt->overrides);
    const std::filesystem::path out(opt->outdir);
    io::ensure_output_directory(out);

    const Index n = static_cast<Index>(cfg.angles.size());
    Matrix theta(n, 1);
    for (Index i = 0; i < n; ++i) theta(i, 0) = cfg.angles[static_cast<std::size_t>(i)];
    reduce::CircleParticles flow(cfg.kernel, cfg.beta, cfg.weights,
                                 {.usa_rescaled_time = true, .snap_distance = cfg.snap_distance});
    ArcLengthFlow arc(flow, cfg.weights);
    OdeSystem& system = cfg.arc_length ? static_cast<OdeSystem&>(arc) : flow;
    flow.retract(theta);  // tokens that start closer than snap_distance are one token

    io::RunWriter writer(
        out / "particles.h5",
        io::RunLayout{
            static_cast<std::size_t>(n), 1, true, {"normalized_energy", "clusters", "speed"}, {}});
    writer.set_attribute("config", cfg.resolved_toml);
    writer.set_attribute("version", std::string(ATTNFLOW_VERSION));
    writer.set_attribute("kernel", std::string(kernel_info(cfg.kernel).name));
    writer.set_attribute("beta", cfg.beta);
    writer.set_attribute("time", std::string(cfg.arc_length ? "arc_length" : "flow"));
    std::vector<std::string> patterns;
    double min_increment = std::numeric_limits<double>::infinity(), last_energy = 0.0;
    Matrix v;
    const IntegrateStats stats = integrate(
        system, theta, cfg.times, cfg.integrate, [&](std::size_t k, double t, const Matrix& th) {
          const double energy = reduce::circle_normalized_energy(th, cfg.weights, cfg.beta);
          const std::vector<Index> sizes = reduce::circle_cluster_sizes(th, cfg.cluster_distance);
          flow.velocity(0.0, th, v);
          const double speed = weighted_norm(v, cfg.weights);
          const std::string pattern = pattern_text(sizes);
          if (patterns.empty() || patterns.back() != pattern) patterns.push_back(pattern);
          if (k > 0) min_increment = std::min(min_increment, energy - last_energy);
          last_energy = energy;
          if (cfg.record[k])
            writer.append(t, th.data(), {energy, static_cast<double>(sizes.size()), speed}, {});
        });
    writer.commit();

    nlohmann::json summary;
    summary["attnflow_version"] = ATTNFLOW_VERSION;
    summary["kernel"] = kernel_info(cfg.kernel).name;
    summary["beta"] = cfg.beta;
    summary["time"] = cfg.arc_length ? "arc_length" : "flow";
    summary["t_end"] = cfg.t_end;
    summary["steps"] = stats.steps;
    summary["rejected"] = stats.rejected;
    summary["evaluations"] = stats.evaluations;
    summary["frames"] = writer.frames();
    summary["config"] = cfg.resolved_toml;
    summary["cluster_patterns"] = patterns;
    if (std::isfinite(min_increment)) summary["min_energy_increment"] = min_increment;
    summary["final"] = {{"normalized_energy", last_energy}, {"clusters", patterns.back()}};
    summary["files"] = {{"particles", "particles.h5"}, {"summary", "summary.json"}};
    summary["status"] = "ok";
    io::write_json_atomic(out / "summary.json", summary);
    if (!opt->quiet) {
      std::cout << "wrote " << (out / "particles.h5").string() << " and "
                << (out / "summary.json").string() << " (" << writer.frames() << " frames, "
                << stats.steps << " steps, " << stats.rejected << " rejected)\n";
      std::cout << "cluster patterns:";
      for (const std::string& p : patterns) std::cout << ' ' << p;
      std::cout << "\nfinal normalised energy " << format_number(last_energy) << "\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
