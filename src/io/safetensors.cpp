// The format is simple and fully specified (github.com/huggingface/safetensors); Debian ships no
// C++ reader for it, and the JSON header is parsed by nlohmann-json. Half-precision conversion is
// hand-written: C++20 has no std::float16_t, and the conversion is a few exact bit operations.
#include "attnflow/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"
#include "member_choice.hpp"
#include "regular_file.hpp"

namespace attnflow::io {

static_assert(std::endian::native == std::endian::little,
              "the safetensors reader assumes a little-endian host");

namespace {

// The reference implementation refuses headers above 100 MB.
constexpr std::size_t kMaxHeader = 100'000'000;
constexpr std::size_t kMaxElements = std::size_t{1} << 30;

/// Bytes per element of an allowed dtype, 0 for any other.
std::size_t item_size(const std::string& dtype) {
  if (dtype == "F64") return 8;
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

/// Stores a non-negative JSON integer in `out`; false for anything else (negative, fractional).
bool to_size(const nlohmann::json& value, std::size_t& out) {
  if (!value.is_number_unsigned()) return false;
  out = value.get<std::size_t>();
  return true;
}

void read_at(std::ifstream& in, std::size_t offset, char* buffer, std::size_t size,
             const std::string& key) {
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(buffer, static_cast<std::streamsize>(size));
  if (!in || static_cast<std::size_t>(in.gcount()) != size)
    throw InputError(key, "file is truncated: it shrank while being read");
}

}  // namespace

double half_to_double(std::uint16_t bits) {
  const double sign = (bits & 0x8000u) != 0 ? -1.0 : 1.0;
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  if (exponent == 0x1F)
    return mantissa == 0 ? sign * std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(static_cast<double>(mantissa), -24);
  return sign * std::ldexp(static_cast<double>(mantissa + 0x400), exponent - 25);
}

double bfloat16_to_double(std::uint16_t bits) {
  return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16));
}

NdArray read_safetensors(const std::filesystem::path& path, const std::string& name,
                         const std::string& path_key, const std::string& name_key) {
  const std::size_t file_size = detail::regular_file_size(path, path_key, "a .safetensors file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path_key, "cannot open " + detail::quoted(path));
  if (file_size < 8)
    throw InputError(path_key,
                     "file is truncated: a .safetensors file starts with an 8-byte "
                     "header length, found " +
                         std::to_string(file_size) + " bytes");
  unsigned char length_bytes[8] = {};
  read_at(in, 0, reinterpret_cast<char*>(length_bytes), 8, path_key);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (header_size > file_size - 8)
    throw InputError(path_key, "file is truncated inside the .safetensors header: it declares " +
                                   std::to_string(header_size) + " header bytes, found " +
                                   std::to_string(file_size - 8));
  if (header_size > kMaxHeader)
    throw InputError(path_key, "the .safetensors header is " + std::to_string(header_size) +
                                   " bytes; allowed: at most " + std::to_string(kMaxHeader));
  std::string text(static_cast<std::size_t>(header_size), '\0');
  read_at(in, 8, text.data(), text.size(), path_key);
  const std::size_t data_start = 8 + static_cast<std::size_t>(header_size);
  const std::size_t data_size = file_size - data_start;

  const auto malformed = [&](const std::string& what) {
    return InputError(path_key, "malformed .safetensors header: " + what);
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw malformed(std::string("not valid JSON (") + error.what() + ")");
  }
  if (!header.is_object()) throw malformed("not a JSON object");
  std::vector<std::string> names;
  for (const auto& [tensor, value] : header.items())
    if (tensor != "__metadata__") names.push_back(tensor);
  const std::string chosen = detail::choose_member({names, "tensor", path_key, name_key}, name);

  const nlohmann::json& entry = header.at(chosen);
  const auto bad = [&](const std::string& what) {
    return malformed("tensor '" + chosen + "' " + what);
  };
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets"))
    throw bad("must be an object with dtype, shape and data_offsets");
  if (!entry["dtype"].is_string()) throw bad("has a dtype that is not a string");
  const std::string dtype = entry["dtype"].get<std::string>();
  const std::size_t size = item_size(dtype);
  if (size == 0)
    throw InputError(path_key, "tensor '" + chosen + "' has dtype " + dtype +
                                   ", which is not supported; allowed: F64, F32, F16, BF16");
  NdArray array;
  std::size_t count = 1;
  if (!entry["shape"].is_array()) throw bad("has a shape that is not a list");
  for (const auto& extent : entry["shape"]) {
    std::size_t e = 0;
    if (!to_size(extent, e)) throw bad("has a shape that is not a list of non-negative integers");
    if (e != 0 && count > kMaxElements / e) throw bad("is too large");
    count *= e;
    array.shape.push_back(e);
  }
  const nlohmann::json& offsets = entry["data_offsets"];
  std::size_t begin = 0, end = 0;
  if (!offsets.is_array() || offsets.size() != 2 || !to_size(offsets[0], begin) ||
      !to_size(offsets[1], end) || begin > end)
    throw bad("has data_offsets that are not [begin, end] with 0 <= begin <= end");
  if (end > data_size)
    throw InputError(path_key, "tensor '" + chosen + "' has data_offsets [" +
                                   std::to_string(begin) + ", " + std::to_string(end) +
                                   "] beyond the data section of " + std::to_string(data_size) +
                                   " bytes (truncated or corrupt file)");
  if (end - begin != count * size)
    throw bad("has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
              "] spanning " + std::to_string(end - begin) + " bytes; shape " +
              shape_text(array.shape) + " of " + dtype + " needs " + std::to_string(count * size));

  std::vector<char> raw(end - begin);
  if (!raw.empty()) read_at(in, data_start + begin, raw.data(), raw.size(), path_key);
  array.data.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const char* p = raw.data() + i * size;
    if (size == 8) {
      std::memcpy(&array.data[i], p, 8);
    } else if (size == 4) {
      float value = 0.0f;
      std::memcpy(&value, p, 4);
      array.data[i] = value;
    } else {
      std::uint16_t bits = 0;
      std::memcpy(&bits, p, 2);
      array.data[i] = dtype == "F16" ? half_to_double(bits) : bfloat16_to_double(bits);
    }
  }
  return array;
}

}  // namespace attnflow::io
