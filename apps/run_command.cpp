// `attnflow run`: one configuration → OUTDIR/run.h5 and OUTDIR/summary.json.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "attnflow/io/run.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

/// A one-line progress bar on stderr, redrawn only when the integer percentage changes.
class ProgressBar {
 public:
  void operator()(double t, double t_end) {
    const int percent = t_end > 0.0 ? static_cast<int>(100.0 * t / t_end) : 100;
    if (percent == last_) return;
    last_ = percent;
    const int filled = percent / 5;
    std::fprintf(stderr, "\r[%-20s] %3d%%  t = %.4g",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(), percent, t);
    if (percent >= 100) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  int last_ = -1;
};

}  // namespace

Action add_run_command(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("run", "Integrate one configuration and write run.h5 + summary.json");
  struct Options {
    std::string config;
    std::string outdir;
    std::vector<std::string> overrides;
    int threads = 0;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("config", opt->config, "TOML configuration file")->required();
  cmd->add_option("-o,--output", opt->outdir, "output directory")->required();
  cmd->add_option("--set", opt->overrides, "override a key: section.key=value (repeatable)");
  cmd->add_option("--threads", opt->threads,
                  "OpenMP threads (0: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", opt->quiet, "no progress bar, no report");
  return [opt]() {
    set_threads(opt->threads);
    const io::RunConfig config = io::load_config(opt->config, opt->overrides);
    const auto start = std::chrono::steady_clock::now();
    ProgressBar bar;
    io::Progress progress;
    if (!opt->quiet && isatty(STDERR_FILENO)) progress = std::ref(bar);
    const nlohmann::json summary = io::run_experiment(config, opt->outdir, progress);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!opt->quiet) {
      const std::filesystem::path out(opt->outdir);
      std::cout << "wrote " << (out / "run.h5").string() << " and "
                << (out / "summary.json").string() << " (" << summary["frames"] << " frames, "
                << summary["steps"] << " steps, " << seconds << " s)\n";
      if (summary.contains("final") && summary["final"].contains("clusters"))
        std::cout << "final number of clusters: " << summary["final"]["clusters"].get<double>()
                  << "\n";
      if (summary.contains("energy_gain"))
        std::cout << "energy gain E(t_end)/E(0): " << summary["energy_gain"].get<double>() << "\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
