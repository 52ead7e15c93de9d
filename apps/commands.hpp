#pragma once
// The attnflow subcommands. Each registers its options on a CLI11 app and returns the callback
// that runs it; main.cpp turns exceptions into one-line errors and exit codes.
#include <CLI/CLI.hpp>
#include <functional>

namespace attnflow::cli {

/// A subcommand's action, run after parsing; returns the process exit status.
using Action = std::function<int()>;

/// `attnflow run CONFIG -o OUTDIR [--set k=v ...] [--threads N] [--quiet]`
Action add_run_command(CLI::App& app);
/// `attnflow info`
Action add_info_command(CLI::App& app);
/// `attnflow bench velocity --n N --d D [--kernel K] [--geometry G] [--threads T]`
Action add_bench_command(CLI::App& app);

/// Applies --threads (0 = OpenMP's default).
void set_threads(int threads);

}  // namespace attnflow::cli
