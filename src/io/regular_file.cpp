#include "regular_file.hpp"

#include <system_error>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"

namespace attnflow::io::detail {

std::size_t regular_file_size(const std::filesystem::path& path, const std::string& key,
                              const std::string& what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw InputError(key, "file not found: " + quoted(path));
  if (ec) throw InputError(key, "cannot open " + quoted(path) + ": " + ec.message());
  if (status.type() != std::filesystem::file_type::regular)
    throw InputError(key, quoted(path) + " is not a regular file; expected " + what);
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(key, "cannot read " + quoted(path) + ": " + ec.message());
  return static_cast<std::size_t>(size);
}

}  // namespace attnflow::io::detail
