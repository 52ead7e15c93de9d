// `attnflow equiangular`: the equiangular model of [R] with a normalisation scheme (docs/
// reduced_models.md §2) → CSV of t, ρ (, r) on stdout or a file, with the threshold hitting time.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/init.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/reduce/equiangular.hpp"
#include "commands.hpp"

namespace attnflow::cli {

Action add_equiangular_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "equiangular",
      "Solve the equiangular model rho(t) (and r(t)) of [R] -> CSV with the hitting time");
  struct Options {
    std::string kernel = "sa";
    std::int64_t n = 0;
    double beta = 1.0;
    double rho0 = 0.0;
    double r0 = 1.0;
    double t_end = 10.0;
    std::string normalization = "post_ln";
    double threshold = 0.999;
    double mix_time = 1.0;
    double alpha = 1.0;
    std::int64_t points = 100;
    std::string method = "dopri5";
    double dt = 0.01;
    double rtol = 1e-10;
    double atol = 1e-12;
    bool particles = false;
    std::string output;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--kernel", opt->kernel, "sa (softmax) or usa")->capture_default_str();
  cmd->add_option("--n", opt->n, "number of tokens (>= 2)")->required();
  cmd->add_option("--beta", opt->beta, "inverse temperature (>= 0)")->required();
  cmd->add_option("--rho0", opt->rho0, "initial similarity, in [-1/(n-1), 1]")->required();
  cmd->add_option("--t-end", opt->t_end, "final time")->required();
  cmd->add_option("--normalization", opt->normalization,
                  "post_ln | pre_ln | mix_ln | peri_ln | ngpt | sqrt_scaling")
      ->capture_default_str();
  cmd->add_option("--threshold", opt->threshold, "report the first t with rho >= threshold")
      ->capture_default_str();
  cmd->add_option("--r0", opt->r0, "initial radius (schemes with radii)")->capture_default_str();
  cmd->add_option("--mix-time", opt->mix_time, "mix_ln: time tau of the switch Post-LN -> Pre-LN")
      ->capture_default_str();
  cmd->add_option("--alpha", opt->alpha, "ngpt: step scale alpha")->capture_default_str();
  cmd->add_option("--points", opt->points, "number of output intervals on [0, t_end]")
      ->capture_default_str();
  cmd->add_option("--method", opt->method, "euler | rk4 | dopri5")->capture_default_str();
  cmd->add_option("--dt", opt->dt, "step of euler / rk4")->capture_default_str();
  cmd->add_option("--rtol", opt->rtol, "dopri5 relative tolerance")->capture_default_str();
  cmd->add_option("--atol", opt->atol, "dopri5 absolute tolerance")->capture_default_str();
  cmd->add_flag(
      "--particles", opt->particles,
      "also integrate the n tokens themselves (d = n, exact equiangular start) and add columns "
      "rho_particles, spread_particles (max - min pair similarity), r_particles");
  cmd->add_option("-o,--output", opt->output,
                  "write the CSV to this file (atomically) instead of stdout");
  return [opt]() {
    reduce::EquiangularParams p;
    if (opt->kernel == "sa" || opt->kernel == "softmax") {
      p.kernel = KernelKind::softmax;
    } else if (opt->kernel == "usa") {
      p.kernel = KernelKind::usa;
    } else {
      throw InputError("--kernel", "unknown kernel '" + opt->kernel + "'; allowed: sa, usa");
    }
    p.n = opt->n;
    p.beta = opt->beta;
    p.scheme = normalization_from_name(opt->normalization, "--normalization");
    p.mix_switch_time = opt->mix_time;
    p.ngpt_alpha = opt->alpha;
    reduce::validate_equiangular(p, opt->rho0, opt->r0);
    if (!std::isfinite(opt->t_end) || opt->t_end < 0.0)
      throw InputError("--t-end", "must be finite and >= 0, got " + format_number(opt->t_end));
    if (opt->points < 1 || opt->points > 10'000'000)
      throw InputError("--points", "must lie in [1, 10000000], got " + std::to_string(opt->points));
    if (opt->particles && opt->n > 512)
      throw InputError("--particles",
                       "the particle check uses d = n and costs n^3 per step: n <= 512, got " +
                           std::to_string(opt->n));
    IntegrateOptions integ;
    integ.method = method_from_name(opt->method, "--method");
    if (!(opt->dt > 0.0) || !std::isfinite(opt->dt))
      throw InputError("--dt", "must be finite and > 0");
    if (!(opt->rtol > 0.0) || !(opt->atol > 0.0))
      throw InputError("--rtol", "tolerances must be > 0");
    integ.dt = integ.method == Method::dopri5 ? 0.0 : opt->dt;
    integ.rtol = opt->rtol;
    integ.atol = opt->atol;
    std::vector<double> times;
    for (std::int64_t k = 0; k <= opt->points; ++k)
      times.push_back(opt->t_end * static_cast<double>(k) / static_cast<double>(opt->points));
    if (opt->t_end == 0.0) times = {0.0};

    const double hitting =
        reduce::equiangular_hitting_time(p, opt->rho0, opt->r0, opt->threshold, integ);
    const std::vector<reduce::EquiangularFrame> frames =
        reduce::solve_equiangular(p, opt->rho0, opt->r0, times, integ);
    std::vector<reduce::PairStatistics> particle_stats;
    if (opt->particles) {
      // The particle run of the same model: the engine's Dynamics in R^n with the scheme
      // (attention on directions, Q = K = V = I), from exactly equiangular tokens of norm r0.
      Model model = identity_model(p.n, p.beta, p.kernel, Geometry::euclidean);
      model.normalization = p.scheme;
      model.mix_tau = p.mix_switch_time;
      model.ngpt_alpha = p.ngpt_alpha;
      const Measure m = uniform_measure(opt->r0 * equiangular_points(p.n, p.n, opt->rho0));
      Dynamics dynamics(AttentionField(model, m.weights, m.positions),
                        std::vector<double>(static_cast<std::size_t>(p.n), opt->r0));
      Matrix x = m.x;
      std::vector<double> grid = times;
      std::vector<bool> record(times.size(), true);
      if (p.scheme == Normalization::mix_ln && p.mix_switch_time > 0.0 &&
          p.mix_switch_time < opt->t_end) {
        const auto at = std::upper_bound(grid.begin(), grid.end(), p.mix_switch_time);
        if (*(at - 1) != p.mix_switch_time) {
          record.insert(record.begin() + (at - grid.begin()), false);
          grid.insert(at, p.mix_switch_time);
        }
      }
      integrate(dynamics, x, grid, integ, [&](std::size_t k, double, const Matrix& s) {
        if (record[k]) particle_stats.push_back(reduce::pair_statistics(s));
      });
    }
    const bool radius = reduce::normalization_has_radius(p.scheme);
    std::ostringstream out;
    out << "# equiangular " << (p.kernel == KernelKind::softmax ? "sa" : "usa") << " n=" << p.n
        << " beta=" << format_number(p.beta) << " rho0=" << format_number(opt->rho0)
        << " normalization=" << normalization_name(p.scheme) << "\n";
    out << "# hitting_time=" << format_number(hitting)
        << " (first t with rho >= " << format_number(opt->threshold) << ")\n";
    out << "t,rho";
    if (radius) out << ",r";
    if (opt->particles) out << ",rho_particles,spread_particles" << (radius ? ",r_particles" : "");
    out << "\n";
    for (std::size_t k = 0; k < frames.size(); ++k) {
      out << format_number(frames[k].t) << "," << format_number(frames[k].rho);
      if (radius) out << "," << format_number(frames[k].r);
      if (opt->particles) {
        out << "," << format_number(particle_stats[k].mean_cosine) << ","
            << format_number(particle_stats[k].spread);
        if (radius) out << "," << format_number(particle_stats[k].mean_radius);
      }
      out << "\n";
    }
    if (opt->output.empty()) {
      std::cout << out.str();
    } else {
      io::write_text_atomic(opt->output, out.str());
    }
    return 0;
  };
}

}  // namespace attnflow::cli
