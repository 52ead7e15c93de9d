// `attnflow gaussian`: the Gaussian solution (m(t), Σ(t)) of the Transformer PDE ([C]; SPEC §3;
// docs/reduced_models.md §1) for the configuration of a particle run → OUTDIR/gaussian.csv and
// OUTDIR/summary.json.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/reduce_config.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/reduce/gaussian.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

/// The CSV: one row per output frame; the upper triangles of Σ and Σ / tr Σ, the spectrum of
/// Σ / tr Σ (descending) and its numerical rank.
std::string gaussian_csv(const std::vector<reduce::GaussianFrame>& frames, Index d,
                         double rank_tol) {
  std::ostringstream out;
  out << "t";
  for (Index i = 0; i < d; ++i) out << ",mean_" << i;
  for (Index i = 0; i < d; ++i)
    for (Index j = i; j < d; ++j) out << ",cov_" << i << "_" << j;
  out << ",trace";
  for (Index i = 0; i < d; ++i)
    for (Index j = i; j < d; ++j) out << ",ncov_" << i << "_" << j;
  for (Index i = 0; i < d; ++i) out << ",eig_" << i;
  out << ",rank\n";
  for (const reduce::GaussianFrame& f : frames) {
    const double trace = f.cov.trace();
    const reduce::NormalizedSpectrum spec = reduce::normalized_spectrum(f.cov, rank_tol);
    out << format_number(f.t);
    for (Index i = 0; i < d; ++i) out << "," << format_number(f.mean(i));
    for (Index i = 0; i < d; ++i)
      for (Index j = i; j < d; ++j) out << "," << format_number(f.cov(i, j));
    out << "," << format_number(trace);
    for (Index i = 0; i < d; ++i)
      for (Index j = i; j < d; ++j)
        out << "," << format_number(trace > 0.0 ? f.cov(i, j) / trace : 0.0);
    for (Index i = 0; i < d; ++i) out << "," << format_number(spec.eigenvalues(i));
    out << "," << spec.rank << "\n";
  }
  return out.str();
}

}  // namespace

Action add_gaussian_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "gaussian",
      "Solve the Gaussian reduction (m, Sigma) of a run configuration ([C]) -> gaussian.csv");
  struct Options {
    std::string config;
    std::string outdir;
    std::vector<std::string> overrides;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option(
         "config", opt->config,
         "TOML run configuration: euclidean geometry, kernel softmax/l2/sinkhorn, init.kind = "
         "\"gaussian\" (mean, cov); optional [gaussian] rank_tol, blowup_ratio")
      ->required();
  cmd->add_option("-o,--output", opt->outdir, "output directory")->required();
  cmd->add_option("--set", opt->overrides, "override a key: section.key=value (repeatable)");
  cmd->add_flag("-q,--quiet", opt->quiet, "no report on stdout");
  return [opt]() {
    const io::GaussianRunConfig cfg = io::load_gaussian_config(opt->config, opt->overrides);
    const io::RunConfig& run = cfg.run;
    const Index d = run.init.mean.size();
    reduce::GaussianSolveOptions solve;
    solve.integrate = run.integrate;
    solve.blowup_ratio = cfg.blowup_ratio;
    const reduce::GaussianSolution sol =
        reduce::solve_gaussian(run.model, run.init.mean, run.init.cov, run.output.times, solve);
    std::vector<reduce::GaussianFrame> frames;
    for (std::size_t k = 0; k < sol.frames.size(); ++k)
      if (run.output.record[k]) frames.push_back(sol.frames[k]);

    const std::filesystem::path out(opt->outdir);
    io::write_text_atomic(out / "gaussian.csv", gaussian_csv(frames, d, cfg.rank_tol));
    nlohmann::json summary;
    summary["attnflow_version"] = ATTNFLOW_VERSION;
    summary["reduction"] = "gaussian";
    summary["kernel"] = kernel_info(run.model.kernel).name;
    summary["beta"] = run.model.beta;
    summary["heads"] = run.model.heads.size();
    summary["d"] = d;
    summary["method"] = method_name(run.integrate.method);
    summary["t_end"] = run.t_end;
    summary["frames"] = frames.size();
    summary["evaluations"] = sol.stats.evaluations;
    summary["config"] = cfg.resolved_toml;
    summary["files"] = {{"gaussian", "gaussian.csv"}, {"summary", "summary.json"}};
    summary["status"] = sol.blowup_time ? "blowup" : "ok";
    if (sol.blowup_time) {
      summary["blowup_time"] = *sol.blowup_time;
      summary["blowup_detected_at"] = *sol.blowup_detected_at;
      summary["blowup_ratio"] = cfg.blowup_ratio;
    }
    if (!frames.empty()) {
      const reduce::GaussianFrame& last = frames.back();
      const reduce::NormalizedSpectrum spec = reduce::normalized_spectrum(last.cov, cfg.rank_tol);
      summary["final"] = {
          {"t", last.t},
          {"trace", last.cov.trace()},
          {"rank", spec.rank},
          {"normalized_eigenvalues",
           std::vector<double>(spec.eigenvalues.data(), spec.eigenvalues.data() + d)},
          {"mean", std::vector<double>(last.mean.data(), last.mean.data() + d)}};
    }
    io::write_json_atomic(out / "summary.json", summary);
    if (!opt->quiet) {
      std::cout << "wrote " << (out / "gaussian.csv").string() << " and "
                << (out / "summary.json").string() << " (" << frames.size() << " frames)\n";
      if (sol.blowup_time)
        std::cout << "blow-up: the covariance diverges at t* = " << format_number(*sol.blowup_time)
                  << " (tr Sigma exceeded " << format_number(cfg.blowup_ratio)
                  << " x tr Sigma(0) at t = " << format_number(*sol.blowup_detected_at) << ")\n";
      else if (!frames.empty())
        std::cout << "final rank of Sigma/tr Sigma (eigenvalues > " << format_number(cfg.rank_tol)
                  << "): " << summary["final"]["rank"]
                  << ", tr Sigma = " << format_number(frames.back().cov.trace()) << "\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
