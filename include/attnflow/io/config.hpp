#pragma once
// The TOML run configuration: parsing, `--set` overrides, defaults, strict validation and the
// resolved text stored with every run. Every problem is an InputError naming its key.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "attnflow/integrator.hpp"
#include "attnflow/model.hpp"

namespace attnflow::io {

/// [init]: how the initial tokens are made.
struct InitConfig {
  std::string kind = "uniform_sphere";  ///< uniform_sphere | gaussian | points | file | equiangular
  Index n = 64;
  Index d = 3;
  std::uint64_t seed = 0;
  Matrix points;                  ///< kind = "points", or the contents of the file for "file"
  std::filesystem::path path;     ///< kind = "file" (.npy, n×d float64/float32)
  Vector mean;                    ///< kind = "gaussian" (default 0)
  Matrix cov;                     ///< kind = "gaussian" (default I)
  double rho = 0.0;               ///< kind = "equiangular"
  std::vector<double> weights;    ///< optional token masses (default uniform)
  std::vector<double> positions;  ///< optional sequence positions (default 0..n−1)
};

/// [output]: when and what to record.
struct OutputConfig {
  std::vector<double> times;  ///< output times (resolved from `every` or `times`)
  std::vector<bool> record;   ///< whether each entry of times is written (t = 0 may be
                              ///< integrated from without being requested)
  bool trajectory = true;
  std::vector<std::string> observables{"energy", "clusters", "mean_cosine"};
  double cluster_threshold = 1e-3;
};

/// A complete, validated run configuration.
struct RunConfig {
  Model model;
  InitConfig init;
  IntegrateOptions integrate;
  double t_end = 1.0;
  OutputConfig output;
  std::string resolved_toml;  ///< the configuration with overrides and defaults, as TOML text
};

/// Parses TOML text with `section.key=value` overrides applied first (values are TOML; a bare
/// word is taken as a string). `base_dir` resolves relative file paths.
RunConfig parse_config(const std::string& text, const std::vector<std::string>& overrides,
                       const std::filesystem::path& base_dir);

/// Reads and parses a configuration file; a missing file is InputError("config", ...).
RunConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides);

}  // namespace attnflow::io
