#include "attnflow/io/npz.hpp"

#include <zip.h>

#include <memory>
#include <string>
#include <vector>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"
#include "attnflow/io/npy.hpp"
#include "member_choice.hpp"
#include "regular_file.hpp"

namespace attnflow::io {

namespace {

/// libzip's text for an error code from zip_open.
std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

struct ArchiveCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct MemberCloser {
  void operator()(zip_file_t* file) const { (void)zip_fclose(file); }
};

constexpr const char* kNpySuffix = ".npy";

/// numpy's key for a member: its name without the ".npy" numpy.savez appends.
std::string key_of(const std::string& member) {
  const std::string suffix = kNpySuffix;
  if (member.size() > suffix.size() &&
      member.compare(member.size() - suffix.size(), suffix.size(), suffix) == 0)
    return member.substr(0, member.size() - suffix.size());
  return member;
}

}  // namespace

NdArray read_npz(const std::filesystem::path& path, const std::string& name,
                 const std::string& path_key, const std::string& name_key) {
  (void)detail::regular_file_size(path, path_key, "a .npz file");
  int code = 0;
  std::unique_ptr<zip_t, ArchiveCloser> archive(
      zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!archive) {
    if (code == ZIP_ER_NOZIP || code == ZIP_ER_INCONS)
      throw InputError(path_key, detail::quoted(path) +
                                     " is not a .npz file (not a zip archive, or a truncated "
                                     "one); write arrays with numpy.savez");
    throw InputError(path_key, "cannot read " + detail::quoted(path) + ": " + zip_error_text(code));
  }
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  std::vector<std::string> names;
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* member = zip_get_name(archive.get(), static_cast<zip_uint64_t>(i), 0);
    if (member == nullptr)
      throw InputError(path_key, "cannot read the member names of " + detail::quoted(path));
    names.push_back(key_of(member));
  }
  const std::string chosen =
      detail::choose_member({names, "array", path_key, name_key}, key_of(name));
  zip_uint64_t index = 0;
  while (names[index] != chosen) ++index;
  const std::string member = zip_get_name(archive.get(), index, 0);
  const auto fail = [&](const std::string& what) {
    return InputError(path_key, "member '" + member + "': " + what);
  };

  zip_stat_t info;
  zip_stat_init(&info);
  if (zip_stat_index(archive.get(), index, 0, &info) != 0 || (info.valid & ZIP_STAT_SIZE) == 0)
    throw fail("cannot read its size");
  std::unique_ptr<zip_file_t, MemberCloser> file(zip_fopen_index(archive.get(), index, 0));
  if (!file) throw fail(zip_strerror(archive.get()));
  // Read in blocks up to the declared size (and one byte more to detect a lie), so a corrupt
  // size field cannot make us allocate more than the data really holds.
  std::string bytes;
  std::vector<char> block(1 << 16);
  for (;;) {
    const zip_int64_t got = zip_fread(file.get(), block.data(), block.size());
    if (got < 0) throw fail(std::string("cannot be read: ") + zip_file_strerror(file.get()));
    if (got == 0) break;
    bytes.append(block.data(), static_cast<std::size_t>(got));
    if (bytes.size() > info.size) throw fail("holds more data than its declared size");
  }
  if (bytes.size() != info.size) throw fail("is truncated");
  try {
    return parse_npy(bytes, path_key);
  } catch (const InputError& error) {
    const std::string text = error.what();
    throw fail(text.substr(path_key.size() + 2));
  }
}

}  // namespace attnflow::io
