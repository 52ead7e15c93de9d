#include "attnflow/io/weight_file.hpp"

#include <algorithm>
#include <cctype>

#include "attnflow/error.hpp"
#include "attnflow/io/hdf5_array.hpp"
#include "attnflow/io/npy.hpp"
#include "attnflow/io/npz.hpp"
#include "attnflow/io/safetensors.hpp"
#include "attnflow/io/toml_helpers.hpp"

namespace attnflow::io {

namespace {

using toml_util::to_string;

enum class Format { kNpy, kNpz, kHdf5, kSafetensors };

constexpr const char* kAllowedFormats = "npy, npz, hdf5, safetensors";

Format format_of(const toml::table& t, const std::filesystem::path& path, const std::string& key) {
  if (const auto* n = t.get("format")) {
    const std::string name = to_string(*n, key + ".format");
    if (name == "npy") return Format::kNpy;
    if (name == "npz") return Format::kNpz;
    if (name == "hdf5") return Format::kHdf5;
    if (name == "safetensors") return Format::kSafetensors;
    throw InputError(key + ".format", "unknown format '" + name + "'; allowed: " + kAllowedFormats);
  }
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".npy") return Format::kNpy;
  if (extension == ".npz") return Format::kNpz;
  if (extension == ".h5" || extension == ".hdf5") return Format::kHdf5;
  if (extension == ".safetensors") return Format::kSafetensors;
  throw InputError(key + ".path", "cannot tell the format of '" + path.filename().string() +
                                      "' from its extension; allowed: .npy, .npz, .h5, .hdf5, "
                                      ".safetensors, or set format = " +
                                      kAllowedFormats);
}

/// The optional string field `name` (empty if absent); refused where `allowed` is false.
std::string selector(const toml::table& t, const std::string& key, const char* name, bool allowed,
                     const char* use_instead) {
  const auto* n = t.get(name);
  if (n == nullptr) return {};
  if (!allowed)
    throw InputError(key + "." + name,
                     std::string("does not apply to this file format; ") + use_instead);
  return to_string(*n, key + "." + name);
}

}  // namespace

NdArray read_weight_file(const toml::table& t, const std::string& key,
                         const std::filesystem::path& base_dir) {
  const auto* p = t.get("path");
  if (p == nullptr) throw InputError(key + ".path", "is required for kind = \"file\"");
  std::filesystem::path path = to_string(*p, key + ".path");
  if (path.is_relative()) path = base_dir / path;
  const Format format = format_of(t, path, key);
  const bool named = format == Format::kNpz || format == Format::kSafetensors;
  const std::string array =
      selector(t, key, "array", named,
               format == Format::kHdf5 ? "HDF5 files select with dataset"
                                       : "array selects in .npz and .safetensors files only");
  const std::string dataset =
      selector(t, key, "dataset", format == Format::kHdf5,
               named ? "this format selects with array" : "dataset selects in HDF5 files only");
  switch (format) {
    case Format::kNpy:
      return read_npy(path, key + ".path");
    case Format::kNpz:
      return read_npz(path, array, key + ".path", key + ".array");
    case Format::kHdf5:
      return read_hdf5_array(path, dataset, key + ".path", key + ".dataset");
    case Format::kSafetensors:
      return read_safetensors(path, array, key + ".path", key + ".array");
  }
  throw InputError(key + ".format", "unknown format");
}

}  // namespace attnflow::io
