// Hand-written .npy reader/writer: Debian ships no maintained C++ library for the format, and the
// subset we need (one little-endian float array, C order) is small enough to validate completely
// ourselves, which matters more here than features: every malformed file must become an
// InputError, never a crash or a silently wrong array.
#include "attnflow/io/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"

namespace attnflow::io {
namespace {

// The payload is copied straight into doubles/floats; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little,
              "the .npy reader assumes a little-endian host");
static_assert(std::numeric_limits<double>::is_iec559 && std::numeric_limits<float>::is_iec559);

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// Deeper nesting than this in a header can only come from a hostile or corrupt file; the limit
// keeps the recursive parser's stack bounded.
constexpr int kMaxNesting = 16;
constexpr std::size_t kAllowedTypeText = 60;

/// An open file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) (void)::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

/// One value of the header's Python dict literal, reduced to what we need to judge it.
struct Literal {
  enum class Kind { kString, kBool, kInt, kSequence, kNone };
  Kind kind = Kind::kNone;
  std::string text;  // the source text, for messages; the string's contents for kString
  bool boolean = false;
  std::size_t integer = 0;
  bool negative = false;
  std::vector<Literal> items;  // elements of a tuple or list
};

/// A syntax error inside the header text; turned into an InputError with the caller's key.
class HeaderSyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Recursive-descent parser for the Python literal subset NumPy writes as the header: a dict of
/// quoted keys to strings, True/False, None, integers and (nested) tuples/lists.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  /// The dict's entries in order; throws HeaderSyntaxError on malformed input.
  std::vector<std::pair<std::string, Literal>> parse_dict() {
    std::vector<std::pair<std::string, Literal>> entries;
    skip_space();
    expect('{');
    skip_space();
    while (!at('}')) {
      Literal key = parse_value(0);
      if (key.kind != Literal::Kind::kString) fail("dictionary keys must be quoted strings");
      skip_space();
      expect(':');
      skip_space();
      entries.emplace_back(key.text, parse_value(0));
      skip_space();
      if (at(',')) {
        ++pos_;
        skip_space();
      } else if (!at('}')) {
        fail("expected ',' or '}'");
      }
    }
    ++pos_;
    skip_space();
    // NumPy pads the header with spaces and one '\n'; anything else after '}' is corruption.
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
    return entries;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw HeaderSyntaxError(what + " at header byte " + std::to_string(pos_));
  }
  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  void expect(char c) {
    if (!at(c)) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Literal parse_value(int depth) {
    if (depth > kMaxNesting) fail("nesting too deep");
    if (pos_ >= text_.size()) fail("unexpected end of header");
    const std::size_t start = pos_;
    Literal value;
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      value.kind = Literal::Kind::kString;
      value.text = parse_string();
      return value;
    }
    if (c == '(' || c == '[') {
      value.kind = Literal::Kind::kSequence;
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      skip_space();
      while (!at(close)) {
        value.items.push_back(parse_value(depth + 1));
        skip_space();
        if (at(',')) {
          ++pos_;
          skip_space();
        } else if (!at(close)) {
          fail(std::string("expected ',' or '") + close + "'");
        }
      }
      ++pos_;
    } else if (consume_word("True") || consume_word("False")) {
      value.kind = Literal::Kind::kBool;
      value.boolean = text_[start] == 'T';
    } else if (consume_word("None")) {
      value.kind = Literal::Kind::kNone;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = Literal::Kind::kInt;
      parse_integer(value);
    } else {
      fail("unexpected character");
    }
    value.text = std::string(text_.substr(start, pos_ - start));
    return value;
  }

  std::string parse_string() {
    const char quote = text_[pos_++];
    std::string contents;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      // Escapes never occur in the keys and dtype strings we accept; keep the escaped byte so a
      // structured dtype's field name cannot end the string early.
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      contents += text_[pos_++];
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    ++pos_;
    return contents;
  }

  void parse_integer(Literal& value) {
    if (at('-')) {
      value.negative = true;
      ++pos_;
    }
    const std::size_t digits_start = pos_;
    std::size_t result = 0;
    bool overflow = false;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const auto digit = static_cast<std::size_t>(text_[pos_] - '0');
      if (result > (std::numeric_limits<std::size_t>::max() - digit) / 10) overflow = true;
      result = result * 10 + digit;
      ++pos_;
    }
    if (pos_ == digits_start) fail("expected a digit");
    // Files written by Python 2 spell dimensions as longs: (3L, 4L).
    if (at('L')) ++pos_;
    if (overflow) fail("integer too large");
    value.integer = result;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

/// Element types we accept, with the bytes each element occupies in the file.
enum class Dtype { kFloat64, kFloat32 };

/// The validated content of a header.
struct Header {
  Dtype dtype = Dtype::kFloat64;
  std::vector<std::size_t> shape;
};

std::string abbreviated(const std::string& text) {
  if (text.size() <= kAllowedTypeText) return text;
  return text.substr(0, kAllowedTypeText) + "...";
}

Header interpret_header(std::string_view text, const std::string& key) {
  std::vector<std::pair<std::string, Literal>> entries;
  try {
    entries = HeaderParser(text).parse_dict();
  } catch (const HeaderSyntaxError& error) {
    throw InputError(key, std::string("malformed .npy header: ") + error.what());
  }
  const Literal* descr = nullptr;
  const Literal* fortran = nullptr;
  const Literal* shape = nullptr;
  for (const auto& [name, value] : entries) {
    const Literal** slot = name == "descr"           ? &descr
                           : name == "fortran_order" ? &fortran
                           : name == "shape"         ? &shape
                                                     : nullptr;
    if (slot == nullptr) {
      throw InputError(key, "malformed .npy header: unexpected key '" + abbreviated(name) +
                                "'; allowed: 'descr', 'fortran_order', 'shape'");
    }
    if (*slot != nullptr) {
      throw InputError(key, "malformed .npy header: duplicate key '" + name + "'");
    }
    *slot = &value;
  }
  for (const auto& [name, slot] : {std::pair{"descr", descr}, std::pair{"fortran_order", fortran},
                                   std::pair{"shape", shape}}) {
    if (slot == nullptr) {
      throw InputError(key, std::string("malformed .npy header: missing key '") + name + "'");
    }
  }

  Header header;
  constexpr const char* kAllowed = "allowed: float64 ('<f8') or float32 ('<f4')";
  if (descr->kind != Literal::Kind::kString) {
    throw InputError(key, "dtype " + abbreviated(descr->text) + " is not supported; " + kAllowed);
  }
  const std::string& type = descr->text;
  if (type == "<f8") {
    header.dtype = Dtype::kFloat64;
  } else if (type == "<f4") {
    header.dtype = Dtype::kFloat32;
  } else if (type == ">f8" || type == ">f4") {
    throw InputError(key,
                     "dtype '" + type + "' is big-endian, which is not supported; " + kAllowed);
  } else {
    throw InputError(key, "dtype '" + abbreviated(type) + "' is not supported; " + kAllowed);
  }

  if (fortran->kind != Literal::Kind::kBool) {
    throw InputError(key, "malformed .npy header: 'fortran_order' must be True or False, got " +
                              abbreviated(fortran->text));
  }
  if (fortran->boolean) {
    throw InputError(key,
                     "fortran_order=True is not supported; allowed: C-ordered arrays "
                     "(save numpy.ascontiguousarray(a))");
  }

  const auto bad_shape = [&] {
    return InputError(key,
                      "malformed .npy header: 'shape' must be a tuple of non-negative "
                      "integers, got " +
                          abbreviated(shape->text));
  };
  if (shape->kind != Literal::Kind::kSequence || shape->text.front() != '(') throw bad_shape();
  for (const Literal& extent : shape->items) {
    if (extent.kind != Literal::Kind::kInt || extent.negative) throw bad_shape();
    header.shape.push_back(extent.integer);
  }
  return header;
}

/// Reads exactly `size` bytes at the current offset, or reports how many there were.
std::size_t read_fully(int fd, void* buffer, std::size_t size, const std::filesystem::path& path,
                       const std::string& key) {
  auto* bytes = static_cast<char*>(buffer);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::read(fd, bytes + done, size - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw InputError(key,
                       "cannot read " + detail::quoted(path) + ": " + detail::errno_text(errno));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

std::uint32_t little_endian(const unsigned char* bytes, std::size_t count) {
  std::uint32_t value = 0;
  for (std::size_t i = count; i-- > 0;) value = (value << 8) | bytes[i];
  return value;
}

/// The number of elements `header` declares, checked against the `available` payload bytes: the
/// data must fill them exactly.
std::size_t checked_element_count(const Header& header, std::size_t available,
                                  const std::string& key) {
  std::size_t count = 1;
  for (const std::size_t extent : header.shape) {
    if (extent != 0 && count > std::numeric_limits<std::size_t>::max() / 16 / extent) {
      throw InputError(key, "shape " + shape_text(header.shape) + " is too large");
    }
    count *= extent;
  }
  const std::size_t item_size = header.dtype == Dtype::kFloat64 ? 8 : 4;
  const char* type_name = header.dtype == Dtype::kFloat64 ? "float64" : "float32";
  const std::size_t needed = count * item_size;
  if (available < needed) {
    throw InputError(key, "file is truncated: shape " + shape_text(header.shape) + " of " +
                              type_name + " needs " + std::to_string(needed) +
                              " bytes of data, found " + std::to_string(available));
  }
  if (available > needed) {
    throw InputError(key, "file has " + std::to_string(available - needed) +
                              " unexpected bytes after the data: shape " +
                              shape_text(header.shape) + " of " + type_name + " needs exactly " +
                              std::to_string(needed));
  }

  return count;
}

}  // namespace

NpyArray read_npy(const std::filesystem::path& path, const std::string& key) {
  // O_NONBLOCK: opening a FIFO by mistake must fail below, not hang the program.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) throw InputError(key, "file not found: " + detail::quoted(path));
    throw InputError(key, "cannot open " + detail::quoted(path) + ": " + detail::errno_text(errno));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    throw InputError(key, "cannot read " + detail::quoted(path) + ": " + detail::errno_text(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    throw InputError(key, detail::quoted(path) + " is not a regular file; expected a .npy file");
  }
  const auto file_size = static_cast<std::size_t>(info.st_size);

  // Preamble: magic, major, minor, header length (2 bytes in 1.0, 4 bytes in 2.0 and 3.0).
  unsigned char preamble[12] = {};
  const std::size_t got = read_fully(fd.get(), preamble, 8, path, key);
  if (got < kMagicSize || std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    throw InputError(key, detail::quoted(path) +
                              " is not a .npy file (it does not start with the NumPy magic "
                              "string); write arrays with numpy.save");
  }
  if (got < 8) throw InputError(key, "file is truncated inside the .npy header");
  const int major = preamble[6];
  const int minor = preamble[7];
  if (minor != 0 || major < 1 || major > 3) {
    throw InputError(key, "unsupported .npy format version " + std::to_string(major) + "." +
                              std::to_string(minor) + "; allowed: 1.0, 2.0 or 3.0");
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  if (read_fully(fd.get(), preamble + 8, length_bytes, path, key) < length_bytes) {
    throw InputError(key, "file is truncated inside the .npy header");
  }
  const std::size_t header_size = little_endian(preamble + 8, length_bytes);
  const std::size_t data_offset = 8 + length_bytes + header_size;
  // Checked against the file size before allocating, so a corrupt length cannot exhaust memory.
  if (data_offset > file_size) {
    throw InputError(key, "file is truncated inside the .npy header: it declares " +
                              std::to_string(header_size) + " header bytes, found " +
                              std::to_string(file_size - (8 + length_bytes)));
  }
  std::string header_text(header_size, '\0');
  if (read_fully(fd.get(), header_text.data(), header_size, path, key) < header_size) {
    throw InputError(key, "file is truncated inside the .npy header");
  }
  const Header header = interpret_header(header_text, key);

  const std::size_t count = checked_element_count(header, file_size - data_offset, key);
  const std::size_t needed = count * (header.dtype == Dtype::kFloat64 ? 8 : 4);

  NpyArray array;
  array.shape = header.shape;
  array.data.resize(count);
  // The file may shrink between fstat and read (another process truncating it); the short-read
  // checks below turn that into the same message instead of returning garbage.
  const auto truncated_while_reading = [&] {
    return InputError(key, "file is truncated: it shrank while being read");
  };
  if (header.dtype == Dtype::kFloat64) {
    if (read_fully(fd.get(), array.data.data(), needed, path, key) < needed) {
      throw truncated_while_reading();
    }
  } else {
    // Widen in blocks so a large float32 file needs no second full-size buffer.
    std::vector<float> block(std::min<std::size_t>(count, std::size_t{1} << 16));
    for (std::size_t done = 0; done < count;) {
      const std::size_t take = std::min(block.size(), count - done);
      if (read_fully(fd.get(), block.data(), take * 4, path, key) < take * 4) {
        throw truncated_while_reading();
      }
      std::copy_n(block.begin(), take, array.data.begin() + static_cast<std::ptrdiff_t>(done));
      done += take;
    }
  }
  return array;
}

NpyArray parse_npy(std::string_view bytes, const std::string& key) {
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kMagicSize || std::memcmp(raw, kMagic, kMagicSize) != 0) {
    throw InputError(key,
                     "not a .npy array (it does not start with the NumPy magic string); write "
                     "arrays with numpy.savez");
  }
  if (bytes.size() < 8) throw InputError(key, "file is truncated inside the .npy header");
  const int major = raw[6];
  const int minor = raw[7];
  if (minor != 0 || major < 1 || major > 3) {
    throw InputError(key, "unsupported .npy format version " + std::to_string(major) + "." +
                              std::to_string(minor) + "; allowed: 1.0, 2.0 or 3.0");
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + length_bytes) {
    throw InputError(key, "file is truncated inside the .npy header");
  }
  const std::size_t header_size = little_endian(raw + 8, length_bytes);
  const std::size_t data_offset = 8 + length_bytes + header_size;
  if (data_offset > bytes.size()) {
    throw InputError(key, "file is truncated inside the .npy header: it declares " +
                              std::to_string(header_size) + " header bytes, found " +
                              std::to_string(bytes.size() - (8 + length_bytes)));
  }
  const Header header = interpret_header(bytes.substr(8 + length_bytes, header_size), key);
  const std::size_t count = checked_element_count(header, bytes.size() - data_offset, key);
  NpyArray array;
  array.shape = header.shape;
  array.data.resize(count);
  const char* payload = bytes.data() + data_offset;
  if (header.dtype == Dtype::kFloat64) {
    if (count > 0) std::memcpy(array.data.data(), payload, count * 8);
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      float value = 0.0f;
      std::memcpy(&value, payload + 4 * i, 4);
      array.data[i] = value;
    }
  }
  return array;
}

void write_npy_atomic(const std::filesystem::path& path, const std::vector<std::size_t>& shape,
                      const double* data) {
  std::size_t count = 1;
  for (const std::size_t extent : shape) count *= extent;

  std::string header =
      "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // NumPy pads the header with spaces and a final '\n' so that the data starts at a multiple of
  // 64 bytes (aligned loads, memory mapping); we do the same so our files equal numpy.save's.
  constexpr std::size_t kAlign = 64;
  const auto pad_for = [&](std::size_t preamble) {
    const std::size_t unpadded = preamble + header.size() + 1;
    return (kAlign - unpadded % kAlign) % kAlign;
  };
  std::size_t preamble = 10;
  if (header.size() + 1 + pad_for(10) > 0xFFFF) preamble = 12;  // needs format 2.0
  header.append(pad_for(preamble), ' ');
  header += '\n';

  std::string head(kMagic, kMagicSize);
  head += static_cast<char>(preamble == 10 ? 1 : 2);
  head += '\0';
  const std::size_t length_bytes = preamble - 8;
  for (std::size_t i = 0; i < length_bytes; ++i) {
    head += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  }
  head += header;

  detail::AtomicOutput out(path);
  out.write(head.data(), head.size());
  if (count > 0) out.write(data, count * sizeof(double));
  out.commit();
}

}  // namespace attnflow::io
