// `attnflow sweep CONFIG.toml -o OUTDIR`: a grid of independent systems over any config keys
// (include/attnflow/io/sweep.hpp, docs/analysis.md), e.g. the (t, β) phase diagram of [R].
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "attnflow/io/sweep.hpp"
#include "commands.hpp"

namespace attnflow::cli {

Action add_sweep_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("sweep",
                                     "Run a grid of independent systems ([sweep] axes over config "
                                     "keys) into sweep.h5 + summary.json");
  struct Options {
    std::string config, outdir;
    std::vector<std::string> overrides;
    int threads = 0;
    bool quick = false, quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("config", opt->config, "TOML configuration with a [sweep] section")->required();
  cmd->add_option("-o,--output", opt->outdir, "output directory")->required();
  cmd->add_option("--set", opt->overrides,
                  "override a key of every system: section.key=value (repeatable)");
  cmd->add_option("--threads", opt->threads,
                  "OpenMP threads over systems (0: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quick", opt->quick,
                "at most 4 values per axis and the first 8 of the batch axis");
  cmd->add_flag("-q,--quiet", opt->quiet, "no progress, no report");
  return [opt]() {
    set_threads(opt->threads);
    io::SweepSpec spec = io::load_sweep(opt->config, opt->overrides);
    if (opt->quick) io::make_quick(spec);
    const auto start = std::chrono::steady_clock::now();
    io::SweepProgress progress;
    if (!opt->quiet && isatty(STDERR_FILENO))
      progress = [](std::size_t done, std::size_t total) {
        std::fprintf(stderr, "\r%zu / %zu systems", done, total);
        if (done == total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
      };
    const nlohmann::json summary = io::run_sweep(spec, opt->outdir, progress);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!opt->quiet) {
      const std::filesystem::path out(opt->outdir);
      std::cout << "wrote " << (out / "sweep.h5").string() << " and "
                << (out / "summary.json").string() << " (" << summary["systems"] << " systems, "
                << summary["frames"] << " frames, " << seconds << " s)\n";
      if (!summary["failures"].empty())
        std::cout << summary["failures"].size()
                  << " systems turned non-finite (see summary.json)\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
