#pragma once
// Helpers shared by the I/O unit tests: a private scratch directory per test and file utilities.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace attnflow::io::testing {

/// A fresh directory unique to the running test (and process), removed with everything in it when
/// the test ends, so tests can run in parallel (ctest -j) and leave nothing behind.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("attnflow-") + info->test_suite_name() + "-" + info->name() +
                       "-" + std::to_string(::getpid());
    // Parameterized test names contain '/', which must not create nested directories.
    std::replace(name.begin(), name.end(), '/', '_');
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    // Restore permissions a test may have removed, or remove_all would fail.
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(path_, ignored);
  }

  /// The directory itself.
  const std::filesystem::path& path() const { return path_; }
  /// A path inside the directory.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  /// Names of all entries directly in `dir` (default: the scratch directory), sorted.
  std::vector<std::string> entries(const std::filesystem::path& dir = {}) const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir.empty() ? path_ : dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

/// The whole content of a file as bytes.
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes `bytes` to `path` directly (no atomic rename): for hand-made test inputs.
inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace attnflow::io::testing
