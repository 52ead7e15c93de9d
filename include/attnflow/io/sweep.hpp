#pragma once
// Batched sweeps: one run configuration plus a [sweep] section that lists axes over any config
// keys (e.g. model.beta × init.seed); every grid point is an independent small system, integrated
// single-threaded, systems distributed over OpenMP threads. The grid of observables (and, over a
// `batch` axis such as init.seed, their mean and quantiles) goes to one HDF5 file that plots as a
// (t, β) phase diagram ([R] Fig. "phase.diag.Id": n = 32, d ∈ {8, 128, 1024}, fraction of pairs
// with ⟨x_i, x_j⟩ > 1 − δ). Every number written is independent of the thread count.
//
//   [sweep]
//   batch = "init.seed"            # optional: reduce over this axis (mean + quantiles)
//   quantiles = [0.1, 0.5, 0.9]    # default [0.1, 0.25, 0.5, 0.75, 0.9]
//   keep_systems = false           # also store every system (the full grid)
//   [[sweep.axis]]
//   key = "model.beta"
//   linspace = [0.5, 9.0, 18]      # or values = [...] (numbers or strings), or range = [a, b)
//   [[sweep.axis]]
//   key = "init.seed"
//   range = [1, 65]
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attnflow::io {

/// One axis of the grid: a config key and the TOML text of each of its values.
struct SweepAxis {
  std::string key;                  ///< e.g. "model.beta"
  std::vector<std::string> values;  ///< TOML text of each value, as --set would take it
  std::vector<double> numbers;      ///< the values as numbers (empty for a string axis)
};

/// A parsed sweep: the base configuration, its axes and what to store.
struct SweepSpec {
  std::string base_text;               ///< the configuration without [sweep]
  std::filesystem::path base_dir;      ///< resolves relative paths of the configuration
  std::vector<std::string> overrides;  ///< --set overrides applied to every system
  std::vector<SweepAxis> axes;         ///< grid axes, first slowest
  int batch_axis = -1;                 ///< index into axes reduced to statistics, or −1
  std::vector<double> quantiles{0.1, 0.25, 0.5, 0.75, 0.9};  ///< statistics besides the mean
  bool keep_systems = false;  ///< store every system (forced when batch_axis < 0)
  std::string text;           ///< the sweep file as read (stored in the output)
};

/// Parses a sweep configuration; errors are InputError naming the key ("sweep.axis[1].linspace").
SweepSpec parse_sweep(const std::string& text, const std::vector<std::string>& overrides,
                      const std::filesystem::path& base_dir);

/// Reads and parses a sweep file; a missing file is InputError("config", ...).
SweepSpec load_sweep(const std::filesystem::path& path, const std::vector<std::string>& overrides);

/// --quick: every axis cut to at most 4 evenly spaced values (first and last kept), the batch axis
/// to its first 8 values.
void make_quick(SweepSpec& spec);

/// Values of a computed sweep, row-major over the grid with time fastest.
struct SweepResult {
  std::vector<double> times;                 ///< recorded output times (T)
  std::vector<std::string> observables;      ///< the configuration's output.observables
  std::vector<std::size_t> shape;            ///< axis lengths
  std::vector<std::vector<double>> systems;  ///< per observable: shape × T (if kept, else empty)
  std::vector<std::string> statistics;       ///< "mean", "median", "q10", ... (batch sweeps)
  std::vector<std::vector<std::vector<double>>> reduced;  ///< [observable][statistic]: outer × T
  std::vector<std::pair<std::size_t, std::string>> failures;  ///< system index, error text
};

/// Progress callback: systems done, systems in total.
using SweepProgress = std::function<void(std::size_t, std::size_t)>;

/// Runs every system of the grid (OpenMP over systems, each single-threaded, outputs written to
/// fixed slots, reductions in index order: the same numbers for any thread count). A system whose
/// state turns non-finite gets NaN from then on and is listed in failures; statistics skip NaN.
SweepResult compute_sweep(const SweepSpec& spec, const SweepProgress& progress = {});

/// compute_sweep, then OUTDIR/sweep.h5 and OUTDIR/summary.json (atomically). Layout of sweep.h5:
/// /t (T); /<axis key> (length of the axis; numeric axes); /<observable> (shape..., T) when
/// systems are kept; /<observable>.<statistic> (shape without the batch axis..., T) for batch
/// sweeps; root attributes version, config (the sweep file), axes (JSON list of keys and values),
/// batch, kind = "sweep".
nlohmann::json run_sweep(const SweepSpec& spec, const std::filesystem::path& outdir,
                         const SweepProgress& progress = {});

}  // namespace attnflow::io
