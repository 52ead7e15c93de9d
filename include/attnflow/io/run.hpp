#pragma once
// The run driver: configuration → initial measure → integration → observables → run.h5 and
// summary.json. Physics stays in the core library; this file only wires it to files.
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "attnflow/io/config.hpp"
#include "attnflow/measure.hpp"

namespace attnflow::io {

/// Builds the initial measure of [init] (reading .npy files for kind = "file") and validates it
/// against the geometry. Throws InputError naming the init key.
Measure initial_measure(const InitConfig& init, Geometry geometry);

/// Progress callback: current time, final time.
using Progress = std::function<void(double, double)>;

/// Runs a configuration, writing OUTDIR/run.h5 and OUTDIR/summary.json (each under a temporary
/// name, renamed when complete), and returns the summary. On a NumericalError the frames up to the
/// last good output time are kept in run.h5, the summary records the failure, and the error is
/// rethrown.
nlohmann::json run_experiment(const RunConfig& config, const std::filesystem::path& outdir,
                              const Progress& progress = {});

}  // namespace attnflow::io
