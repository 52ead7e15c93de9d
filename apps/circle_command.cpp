// `attnflow circle`: the mean-field continuity equation on S¹ ([R] §Kuramoto connection; docs/
// reduced_models.md §4) next to particle systems sampled from the same initial density →
// OUTDIR/circle.h5, OUTDIR/summary.json (and OUTDIR/particles_n<N>.h5 with [particles] trajectory).
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numbers>

#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/reduce_config.hpp"
#include "attnflow/io/run_writer.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/reduce/circle.hpp"
#include "commands.hpp"

namespace attnflow::cli {

Action add_circle_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "circle",
      "Solve the mean-field PDE on the circle (FFT convolutions, positive flux scheme) and compare "
      "with particles -> circle.h5");
  struct Options {
    std::string config;
    std::string outdir;
    std::vector<std::string> overrides;
    int threads = 0;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("config", opt->config,
                  "TOML file: [model] kernel, beta; [init] kind = perturbed_uniform | von_mises; "
                  "[grid] cells, "
                  "cfl; [particles] n, seed, sampling, method, dt; [integrate] t_end; [output] "
                  "every | times")
      ->required();
  cmd->add_option("-o,--output", opt->outdir, "output directory")->required();
  cmd->add_option("--set", opt->overrides, "override a key: section.key=value (repeatable)");
  cmd->add_option("--threads", opt->threads, "OpenMP threads for the particles (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", opt->quiet, "no report on stdout");
  return [opt]() {
    set_threads(opt->threads);
    const io::CircleConfig cfg = io::load_circle_config(opt->config, opt->overrides);
    const std::filesystem::path out(opt->outdir);
    io::ensure_output_directory(out);

    // The PDE, with its state kept at every output time for the particle comparisons.
    reduce::CirclePde pde(cfg.kernel, cfg.beta, cfg.cells);
    Matrix rho = reduce::circle_cell_averages(cfg.density, cfg.cells);
    std::vector<Matrix> states;
    std::vector<double> mass, energy, velocity_norm2, order, min_density, max_density;
    const IntegrateStats pde_stats = reduce::integrate_ssprk3(
        pde, rho, cfg.times, cfg.cfl,
        [&](std::size_t, double, const Matrix& r) {
          states.push_back(r);
          mass.push_back(pde.mass(r));
          energy.push_back(pde.energy(r));
          velocity_norm2.push_back(pde.energy_rate(r));
          order.push_back(reduce::circle_order_parameter(r));
          min_density.push_back(r.minCoeff());
          max_density.push_back(r.maxCoeff());
        },
        cfg.max_steps);

    // Particle systems sampled from the same initial density.
    const std::size_t frames = cfg.times.size();
    std::vector<std::vector<double>> w1(cfg.particles.counts.size()),
        order_p(cfg.particles.counts.size());
    for (std::size_t c = 0; c < cfg.particles.counts.size(); ++c) {
      const Index n = cfg.particles.counts[c];
      Matrix theta =
          reduce::circle_sample(cfg.density, n, cfg.particles.seed, cfg.particles.quantile);
      reduce::CircleParticles particles(cfg.kernel, cfg.beta);
      IntegrateOptions integ;
      integ.method = cfg.particles.method;
      integ.dt = cfg.particles.dt;
      if (integ.method == Method::dopri5) integ.dt = 0.0;
      std::vector<Matrix> trajectory;
      integrate(particles, theta, cfg.times, integ, [&](std::size_t k, double, const Matrix& th) {
        w1[c].push_back(reduce::circle_w1(states[k], th));
        order_p[c].push_back(reduce::circle_order_parameter_particles(th));
        if (cfg.particles.trajectory && cfg.record[k]) trajectory.push_back(th);
      });
      if (cfg.particles.trajectory) {
        io::RunWriter writer(
            out / ("particles_n" + std::to_string(n) + ".h5"),
            io::RunLayout{static_cast<std::size_t>(n), 1, true, {"w1", "order_parameter"}, {}});
        writer.set_attribute("config", cfg.resolved_toml);
        writer.set_attribute("version", std::string(ATTNFLOW_VERSION));
        std::size_t f = 0;
        for (std::size_t k = 0; k < frames; ++k) {
          if (!cfg.record[k]) continue;
          writer.append(cfg.times[k], trajectory[f++].data(), {w1[c][k], order_p[c][k]}, {});
        }
        writer.commit();
      }
    }

    std::vector<std::string> scalars{
        "mass", "energy", "velocity_norm2", "order_parameter", "min_density", "max_density"};
    for (Index n : cfg.particles.counts) {
      scalars.push_back("w1_n" + std::to_string(n));
      scalars.push_back("order_parameter_n" + std::to_string(n));
    }
    io::RunWriter writer(
        out / "circle.h5",
        io::RunLayout{static_cast<std::size_t>(cfg.cells), 1, false, scalars, {"density"}});
    writer.set_attribute("config", cfg.resolved_toml);
    writer.set_attribute("version", std::string(ATTNFLOW_VERSION));
    writer.set_attribute("kernel", std::string(kernel_info(cfg.kernel).name));
    writer.set_attribute("beta", cfg.beta);
    std::vector<double> centres(static_cast<std::size_t>(cfg.cells));
    for (Index k = 0; k < cfg.cells; ++k)
      centres[static_cast<std::size_t>(k)] = (static_cast<double>(k) + 0.5) * pde.cell_width();
    writer.write_dataset("theta", {centres.size()}, centres.data());
    const int m_max = static_cast<int>(
        std::min<Index>(cfg.cells / 2, 64 + static_cast<Index>(8.0 * std::sqrt(cfg.beta))));
    std::vector<double> rates;
    for (int m = 1; m <= m_max; ++m)
      rates.push_back(reduce::circle_growth_rate(cfg.kernel, cfg.beta, m));
    writer.write_dataset("growth_rates", {rates.size()}, rates.data());
    const int mode = reduce::circle_most_unstable_mode(cfg.kernel, cfg.beta, m_max);
    writer.set_attribute("most_unstable_mode", static_cast<std::int64_t>(mode));
    for (std::size_t k = 0; k < frames; ++k) {
      if (!cfg.record[k]) continue;
      std::vector<double> values{mass[k],  energy[k],      velocity_norm2[k],
                                 order[k], min_density[k], max_density[k]};
      for (std::size_t c = 0; c < cfg.particles.counts.size(); ++c) {
        values.push_back(w1[c][k]);
        values.push_back(order_p[c][k]);
      }
      writer.append(cfg.times[k], nullptr, values, {states[k].data()});
    }
    writer.commit();

    nlohmann::json summary;
    summary["attnflow_version"] = ATTNFLOW_VERSION;
    summary["reduction"] = "circle";
    summary["kernel"] = kernel_info(cfg.kernel).name;
    summary["beta"] = cfg.beta;
    summary["cells"] = cfg.cells;
    summary["t_end"] = cfg.t_end;
    summary["steps"] = pde_stats.steps;
    summary["frames"] = writer.frames();
    summary["config"] = cfg.resolved_toml;
    summary["most_unstable_mode"] = mode;
    summary["most_unstable_rate"] = reduce::circle_growth_rate(cfg.kernel, cfg.beta, mode);
    summary["growth_rates"] = rates;
    summary["mass_error"] = std::fabs(mass.back() - mass.front());
    summary["min_density"] = *std::min_element(min_density.begin(), min_density.end());
    summary["final"] = {{"energy", energy.back()}, {"order_parameter", order.back()}};
    nlohmann::json particles = nlohmann::json::array();
    for (std::size_t c = 0; c < cfg.particles.counts.size(); ++c)
      particles.push_back({{"n", cfg.particles.counts[c]},
                           {"w1_final", w1[c].back()},
                           {"w1_max", *std::max_element(w1[c].begin(), w1[c].end())},
                           {"order_parameter_final", order_p[c].back()}});
    summary["particles"] = particles;
    summary["files"] = {{"circle", "circle.h5"}, {"summary", "summary.json"}};
    summary["status"] = "ok";
    io::write_json_atomic(out / "summary.json", summary);
    if (!opt->quiet) {
      std::cout << "wrote " << (out / "circle.h5").string() << " and "
                << (out / "summary.json").string() << " (" << writer.frames() << " frames, "
                << pde_stats.steps << " SSP-RK3 steps)\n";
      std::cout << "linear theory: most unstable mode m* = " << mode << " (growth rate "
                << format_number(reduce::circle_growth_rate(cfg.kernel, cfg.beta, mode)) << ")\n";
      std::cout << "mass drift " << format_number(std::fabs(mass.back() - mass.front()))
                << ", min density "
                << format_number(*std::min_element(min_density.begin(), min_density.end())) << "\n";
      for (std::size_t c = 0; c < cfg.particles.counts.size(); ++c)
        std::cout << "particles N = " << cfg.particles.counts[c]
                  << ": W1(PDE, particles) at t_end = " << format_number(w1[c].back()) << "\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
