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

/// `attnflow gaussian CONFIG -o OUTDIR`: the Gaussian reduction (m, Σ) of [C]
Action add_gaussian_command(CLI::App& app);
/// `attnflow equiangular --kernel sa|usa --n N --beta B --rho0 R --t-end T ...`: [R]'s equiangular
/// model
Action add_equiangular_command(CLI::App& app);
/// `attnflow long-context --rho R --n ... --gamma ...`: [R]'s long-context phase transition
Action add_long_context_command(CLI::App& app);
/// `attnflow circle CONFIG -o OUTDIR`: the mean-field PDE on S¹ and its particles
Action add_circle_command(CLI::App& app);
/// `attnflow circle-particles CONFIG -o OUTDIR`: given tokens on S¹ at any β, flow or arc-length
/// time ([R] §5.2 staircase)
Action add_circle_particles_command(CLI::App& app);

/// `attnflow w2 A.h5 B.h5 [--method exact|sinkhorn|sliced|gaussian|conditional] ...`: W2 per frame
Action add_w2_command(CLI::App& app);
/// `attnflow analyze RUN.h5 [--clusters] [--metastability] [--spectra] [--stationary] ...` (JSON)
Action add_analyze_command(CLI::App& app);
/// `attnflow sweep CONFIG -o OUTDIR [--set k=v ...] [--threads N] [--quick]`: batched grids
Action add_sweep_command(CLI::App& app);
/// `attnflow stability CONFIG -o OUTDIR [--perturb tokens|weights] [--eps E ...]`: [M] stability
Action add_stability_command(CLI::App& app);

/// `attnflow plot OUTDIR [...]`: standard figures of a run (Python: python/attnflow/plot.py)
Action add_plot_command(CLI::App& app);
/// `attnflow animate OUTDIR [...]`: GIF / MP4 token movie of a run (python/attnflow/animate.py)
Action add_animate_command(CLI::App& app);
/// `attnflow reproduce list|NAME|all [-o DIR] [--quick]`: the papers' experiments
/// (python/attnflow/reproduce/; configs and checks in experiments/reproduce/)
Action add_reproduce_command(CLI::App& app);

/// Applies --threads (0 = OpenMP's default).
void set_threads(int threads);

}  // namespace attnflow::cli
