#pragma once
// Private to src/io: the POSIX building blocks shared by the atomic text, .npy and HDF5 writers.
#include <cstddef>
#include <filesystem>
#include <string>

namespace attnflow::io::detail {

/// `'<path>'`, the way every message quotes a path.
std::string quoted(const std::filesystem::path& path);

/// The text for the current errno (thread-safe, unlike strerror).
std::string errno_text(int error_number);

/// Creates `temp` exclusively (O_EXCL, so two writers can never share it) and returns its file
/// descriptor. Throws InputError("output", "cannot create file '<final_path>': <reason>").
int create_exclusive(const std::filesystem::path& temp, const std::filesystem::path& final_path);

/// Flushes the closed file `temp` to disk, renames it over `final_path` and flushes the directory
/// entry. Throws InputError("output", ...) on failure and then removes `temp`.
void sync_and_rename(const std::filesystem::path& temp, const std::filesystem::path& final_path);

/// A temporary sibling file that becomes `final_path` on commit() and is deleted otherwise, so
/// an exception mid-write leaves the directory exactly as it was.
class AtomicOutput {
 public:
  /// Creates the parent directories and the temporary file.
  explicit AtomicOutput(std::filesystem::path final_path);
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  /// Deletes the temporary file unless commit() succeeded.
  ~AtomicOutput();

  /// Appends `size` bytes; throws InputError("output", "cannot write file ...") on failure.
  void write(const void* data, std::size_t size);
  /// Closes, syncs and renames the temporary file into place.
  void commit();

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace attnflow::io::detail
