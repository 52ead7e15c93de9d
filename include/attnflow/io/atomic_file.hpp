#pragma once
// Atomic file replacement: every output is written under a hidden temporary name in the target's
// own directory and renamed into place when complete, so a reader (or a crashed run) never sees a
// half-written file and an existing file is only replaced by a complete one.
#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

namespace attnflow::io {

/// A fresh temporary name next to `final_path`: same directory, `.<name>.tmp-<pid>-<counter>`.
/// Same directory because rename(2) is only atomic within one file system.
/// Throws InputError("output", ...) if `final_path` has no file name component.
std::filesystem::path temporary_sibling(const std::filesystem::path& final_path);

/// Creates the parent directory of `path` (and its ancestors) if missing.
/// Throws InputError("output", "cannot create directory '<dir>': <reason>") on failure.
void ensure_parent_directory(const std::filesystem::path& path);

/// Creates the output directory `dir` (and its parents) unless it exists; throws
/// InputError("output", "cannot create directory 'DIR': <reason>") otherwise, the reason being
/// the system's message or "a file of that name exists".
void ensure_output_directory(const std::filesystem::path& dir);

/// Writes `content` to `path` atomically: parent directories created, temporary sibling written and
/// fsync'ed, then renamed over `path`. Throws InputError("output", ...) on any I/O failure, leaving
/// neither a temporary file nor a modified `path` behind.
void write_text_atomic(const std::filesystem::path& path, std::string_view content);

/// Writes `value` atomically as pretty JSON (2-space indent, trailing newline). Invalid UTF-8 in
/// strings is replaced by U+FFFD rather than failing the write.
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);

}  // namespace attnflow::io
