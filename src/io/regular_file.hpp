#pragma once
// The first check of every weight-file reader: the path names an existing regular file (opening a
// FIFO or a directory by mistake must fail with a message, not hang or crash a library).
#include <cstddef>
#include <filesystem>
#include <string>

namespace attnflow::io::detail {

/// The size in bytes of the regular file at `path`; otherwise throws InputError(key, ...) saying
/// it is missing or not a regular file (`what` names the expected kind, e.g. "a .npz file").
std::size_t regular_file_size(const std::filesystem::path& path, const std::string& key,
                              const std::string& what);

}  // namespace attnflow::io::detail
