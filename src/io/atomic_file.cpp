#include "attnflow/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"

namespace attnflow::io {
namespace detail {

std::string quoted(const std::filesystem::path& path) {
  // Appended piecewise: `"'" + path.string()` trips GCC 12's false -Wrestrict (bug 105651).
  std::string text(1, '\'');
  text += path.string();
  text += '\'';
  return text;
}

std::string errno_text(int error_number) {
  return std::error_code(error_number, std::generic_category()).message();
}

int create_exclusive(const std::filesystem::path& temp, const std::filesystem::path& final_path) {
  // 0666 & ~umask, like any ordinary file the user creates.
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw InputError("output",
                     "cannot create file " + quoted(final_path) + ": " + errno_text(errno));
  }
  return fd;
}

namespace {

// Durability of the rename itself needs the directory entry flushed; failure here is not worth
// failing a run over (some file systems refuse fsync on directories), so it is best effort.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  (void)::close(fd);
}

}  // namespace

void sync_and_rename(const std::filesystem::path& temp, const std::filesystem::path& final_path) {
  const auto fail = [&](const std::string& what, int error_number) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw InputError("output", what + " " + quoted(final_path) + ": " + errno_text(error_number));
  };
  // Without the fsync a crash shortly after the rename can leave a complete-looking name with
  // empty contents on some file systems (ext4 delayed allocation).
  const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot write file", errno);
  if (::fsync(fd) != 0) {
    const int error_number = errno;
    (void)::close(fd);
    fail("cannot write file", error_number);
  }
  (void)::close(fd);
  if (::rename(temp.c_str(), final_path.c_str()) != 0) fail("cannot replace", errno);
  sync_directory(final_path.parent_path());
}

AtomicOutput::AtomicOutput(std::filesystem::path final_path)
    : final_path_(std::move(final_path)), temp_path_(temporary_sibling(final_path_)) {
  ensure_parent_directory(final_path_);
  fd_ = create_exclusive(temp_path_, final_path_);
}

AtomicOutput::~AtomicOutput() {
  if (committed_) return;
  if (fd_ >= 0) (void)::close(fd_);
  std::error_code ignored;
  std::filesystem::remove(temp_path_, ignored);
}

void AtomicOutput::write(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd_, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw InputError("output",
                       "cannot write file " + quoted(final_path_) + ": " + errno_text(errno));
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
}

void AtomicOutput::commit() {
  const int fd = std::exchange(fd_, -1);
  // close() can report a deferred write error (NFS, quota), so it is checked like write().
  if (::close(fd) != 0) {
    throw InputError("output",
                     "cannot write file " + quoted(final_path_) + ": " + errno_text(errno));
  }
  sync_and_rename(temp_path_, final_path_);
  committed_ = true;
}

}  // namespace detail

std::filesystem::path temporary_sibling(const std::filesystem::path& final_path) {
  // A process-wide counter makes names unique across threads; the pid across processes.
  static std::atomic<unsigned long long> counter{0};
  const auto name = final_path.filename();
  if (name.empty() || name == "." || name == "..") {
    throw InputError("output", detail::quoted(final_path) + " does not name a file");
  }
  const auto serial = counter.fetch_add(1, std::memory_order_relaxed);
  // Appended piecewise: `"." + name.string()` trips GCC 12's false -Wrestrict (bug 105651).
  std::string temp_name = ".";
  temp_name += name.string();
  temp_name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(serial);
  return final_path.parent_path() / temp_name;
}

void ensure_parent_directory(const std::filesystem::path& path) {
  const auto dir = path.parent_path();
  if (dir.empty()) return;
  std::error_code error;
  // create_directories returns false without error when the directory already exists.
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw InputError("output",
                     "cannot create directory " + detail::quoted(dir) + ": " + error.message());
  }
}

void ensure_output_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw InputError("output", "cannot create directory '" + dir.string() +
                                   "': " + (ec ? ec.message() : "a file of that name exists"));
}

void write_text_atomic(const std::filesystem::path& path, std::string_view content) {
  detail::AtomicOutput out(path);
  out.write(content.data(), content.size());
  out.commit();
}

void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value) {
  // error_handler_t::replace: a stray non-UTF-8 byte in a user string (e.g. a file name) must not
  // lose a whole output file.
  std::string text = value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  write_text_atomic(path, text);
}

}  // namespace attnflow::io
