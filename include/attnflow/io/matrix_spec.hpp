#pragma once
// A matrix in the configuration: an explicit row-major array of arrays, or a table naming how to
// make it, constant or time-dependent ([M] weights that change with depth):
//   { kind = "identity", rows = d }                       I (rows × d; rows > d pads with zeros)
//   { kind = "random", rows = d, scale = 1.0, seed = 0 }  entries N(0, scale²/d), std::mt19937_64
//   { kind = "file", path = "W.npy", layer_time = 1.0 }   a 2-D array, or 3-D (L × rows × d) per
//       layer, from .npy, .npz, HDF5 or .safetensors (weight_file.hpp: format, array, dataset)
//   { kind = "per_layer", layers = [M0, M1, ...], layer_time = 1.0 }
//   { kind = "sinusoid", base = M0, amplitude = A, omega = 1.0, phase = 0.0 }
//   { kind = "ou", mean = M̄, initial = M̄, theta = 1.0, sigma = 1.0, dt = 0.01, seed = 0,
//       symmetric = false }
// where M0, A, M̄ and the layers are themselves arrays or constant tables (identity, random, file).
// β may likewise be a number or a table (per_layer with numbers as layers, sinusoid with numbers).
#include <toml++/toml.h>
#include <filesystem>
#include <string>

#include "attnflow/schedule.hpp"

namespace attnflow::io {

/// What a matrix spec may depend on beyond its own table.
struct MatrixContext {
  Index d = 3;                     ///< token dimension (the default number of columns and rows)
  double t_end = 0.0;              ///< integration end: OU paths are sampled up to it
  std::filesystem::path base_dir;  ///< where relative file paths start
};

/// Parses a matrix value under `key` (e.g. "model.heads[0].Q").
MatrixSchedule parse_matrix_spec(const toml::node& node, const std::string& key,
                                 const MatrixContext& context);

/// Parses β: a number or a table (1×1 schedule).
MatrixSchedule parse_scalar_spec(const toml::node& node, const std::string& key,
                                 const MatrixContext& context);

}  // namespace attnflow::io
