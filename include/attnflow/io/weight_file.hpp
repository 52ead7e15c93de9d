#pragma once
// The array a `{ kind = "file", ... }` matrix table names. The format is the path's extension, or
// the `format` field when given (for files named otherwise):
//   .npy                    format = "npy"          one array
//   .npz                    format = "npz"          member `array` (numpy's key, e.g. "Q")
//   .h5, .hdf5              format = "hdf5"         dataset `dataset` (e.g. "/layers/Q")
//   .safetensors            format = "safetensors"  tensor `array` (e.g. "model.layers.0.q.weight")
// `array` / `dataset` may be omitted when the file holds exactly one array.
#include <toml++/toml.h>

#include <filesystem>
#include <string>

#include "attnflow/io/nd_array.hpp"

namespace attnflow::io {

/// Reads the array named by the file table `table` under `key` (e.g. "model.Q"); relative paths
/// start at `base_dir`. Throws InputError under key.path, key.format, key.array or key.dataset.
NdArray read_weight_file(const toml::table& table, const std::string& key,
                         const std::filesystem::path& base_dir);

}  // namespace attnflow::io
