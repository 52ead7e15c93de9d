#pragma once
// NumPy .npy arrays: the format users hand us initial token positions and weight matrices in.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/io/nd_array.hpp"

namespace attnflow::io {

/// A dense array read from a .npy file (the common array type of all weight-file readers).
using NpyArray = NdArray;

/// Reads a .npy file (format 1.0, 2.0 or 3.0) holding a C-ordered little-endian float64 ('<f8') or
/// float32 ('<f4', widened exactly to double) array. Every problem with the file, including a
/// missing, truncated or malformed one, throws InputError(key, ...) where `key` is the config key
/// or argument that named the file. Values are returned as stored (NaN and inf included): checking
/// them is the caller's business.
NpyArray read_npy(const std::filesystem::path& path, const std::string& key);

/// Parses the bytes of a whole .npy file held in memory (a member of a .npz archive) with the
/// same checks and messages as read_npy.
NpyArray parse_npy(std::string_view bytes, const std::string& key);

/// Writes a C-ordered float64 array as a .npy file (format 1.0, or 2.0 if the header needs it)
/// atomically (temporary sibling + rename). `data` holds the product of `shape` elements and may
/// be null only if that product is 0. Throws InputError("output", ...) on I/O failure.
void write_npy_atomic(const std::filesystem::path& path, const std::vector<std::size_t>& shape,
                      const double* data);

}  // namespace attnflow::io
