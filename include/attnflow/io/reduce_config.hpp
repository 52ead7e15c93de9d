#pragma once
// Configurations of the reduced-model commands (`attnflow gaussian`, `attnflow circle`,
// `attnflow long-context --config`). Every problem is an InputError naming its key.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "attnflow/integrator.hpp"
#include "attnflow/io/config.hpp"
#include "attnflow/reduce/circle.hpp"

namespace attnflow::io {

/// `attnflow gaussian CONFIG`: the *same* file as the particle run it describes ([model] in R^d
/// with kernel softmax / l2 / sinkhorn, [init] kind = "gaussian" with mean and cov, [integrate],
/// [output] times), plus an optional [gaussian] section with the reduction's own settings.
struct GaussianRunConfig {
  RunConfig run;               ///< the particle configuration (its [init].n, seed are unused here)
  double rank_tol = 1e-6;      ///< [gaussian] numerical rank: eigenvalues of Σ/tr Σ above this
  double blowup_ratio = 1e12;  ///< [gaussian] blow-up declared when tr Σ > ratio · tr Σ(0)
  std::string resolved_toml;   ///< the run's resolved TOML followed by the [gaussian] section
};

/// Parses a Gaussian configuration; `--set gaussian.key=value` overrides go to [gaussian], all
/// others to the run configuration.
GaussianRunConfig parse_gaussian_config(const std::string& text,
                                        const std::vector<std::string>& overrides,
                                        const std::filesystem::path& base_dir);
/// Reads and parses a Gaussian configuration file; a missing file is InputError("config", ...).
GaussianRunConfig load_gaussian_config(const std::filesystem::path& path,
                                       const std::vector<std::string>& overrides);

/// [particles] of a circle configuration: particle systems sampled from the initial density.
struct CircleParticleConfig {
  std::vector<Index> counts;  ///< particle numbers N (empty: no particle comparison)
  std::uint64_t seed = 0;
  bool quantile = false;  ///< sampling = "quantile" (u_i = (i+½)/N) instead of "random"
  Method method = Method::rk4;
  double dt = 0.01;
  bool trajectory = false;  ///< write OUTDIR/particles_n<N>.h5 with the angles
};

/// `attnflow circle CONFIG`: the mean-field PDE on S¹ and its particle systems.
struct CircleConfig {
  KernelKind kernel = KernelKind::softmax;  ///< [model] kernel: softmax (SA) | usa
  double beta = 1.0;                        ///< [model] beta ∈ [0, 700]
  reduce::CircleDensity density;            ///< [init]
  Index cells = 512;                        ///< [grid] cells
  double cfl = 0.4;                         ///< [grid] cfl ∈ (0, 0.5]
  CircleParticleConfig particles;           ///< [particles]
  double t_end = 10.0;                      ///< [integrate] t_end
  std::uint64_t max_steps = 100'000'000;    ///< [integrate] max_steps
  std::vector<double> times;                ///< output times (t = 0 first)
  std::vector<bool> record;                 ///< whether each time is written
  std::string resolved_toml;
};

/// Parses a circle configuration (sections model, init, grid, particles, integrate, output).
CircleConfig parse_circle_config(const std::string& text,
                                 const std::vector<std::string>& overrides);
/// Reads and parses a circle configuration file.
CircleConfig load_circle_config(const std::filesystem::path& path,
                                const std::vector<std::string>& overrides);

/// `attnflow circle-particles CONFIG`: given tokens on S¹ in angle coordinates, at any β, in the
/// flow's time or in arc-length (normalised-gradient) time ([R] §5.2).
struct CircleParticlesConfig {
  KernelKind kernel = KernelKind::usa;  ///< [model] kernel: usa | softmax
  double beta = 1.0;                    ///< [model] beta ∈ [0, 1e6]
  std::vector<double> angles;           ///< [init] angles (rad)
  std::vector<double> weights;          ///< [init] weights, normalised to sum 1 (uniform if absent)
  bool arc_length = false;              ///< [integrate] time = "flow" | "arc_length"
  IntegrateOptions integrate;           ///< [integrate] method, dt, rtol, atol, max_steps
  double snap_distance = 0.0;           ///< [integrate] snap_distance (rad, 0 = never)
  double t_end = 1.0;                   ///< [integrate] t_end (in the chosen time)
  double cluster_distance = 1e-6;       ///< [output] cluster_distance (rad)
  std::vector<double> times;            ///< output times (0 first)
  std::vector<bool> record;             ///< whether each time is written
  std::string resolved_toml;
};

/// Parses a circle-particles configuration (sections model, init, integrate, output).
CircleParticlesConfig parse_circle_particles_config(const std::string& text,
                                                    const std::vector<std::string>& overrides);
/// Reads and parses a circle-particles configuration file.
CircleParticlesConfig load_circle_particles_config(const std::filesystem::path& path,
                                                   const std::vector<std::string>& overrides);

/// [long_context] of `attnflow long-context --config FILE`: the (n, γ) sweep.
struct LongContextConfig {
  double rho = 0.5;
  std::vector<double> n;                    ///< sequence lengths (reals ≥ 2)
  std::vector<double> gamma;                ///< absolute γ values
  std::vector<double> gamma_over_critical;  ///< γ / γ_c values (added to gamma)
  bool residual = false;
  Index particle_max_n = 256;  ///< cross-check against particles for n ≤ this (0 = never)
};

/// Parses the [long_context] table of a sweep file.
LongContextConfig parse_long_context_config(const std::string& text);
/// Reads and parses a sweep file.
LongContextConfig load_long_context_config(const std::filesystem::path& path);

}  // namespace attnflow::io
