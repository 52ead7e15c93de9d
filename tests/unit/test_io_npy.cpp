// .npy reading and writing. Inputs for the reader are built byte by byte here, independently of
// write_npy_atomic, so a symmetric bug in reader and writer cannot hide.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "attnflow/error.hpp"
#include "attnflow/io/npy.hpp"
#include "test_io_support.hpp"

namespace attnflow::io {
namespace {

using testing::read_bytes;
using testing::ScratchDir;
using testing::write_bytes;

/// A .npy file: magic, version, little-endian header length (2 bytes for 1.x, else 4), the header
/// padded with spaces and '\n' so data starts at a multiple of 64, then the payload.
std::string npy_file(int major, const std::string& dict, const std::string& payload) {
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((6 + 2 + length_bytes + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(major);
  bytes += '\0';
  for (std::size_t i = 0; i < length_bytes; ++i) {
    bytes += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  }
  return bytes + header + payload;
}

template <typename T>
std::string payload_of(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string f8_dict(const std::string& shape) {
  return "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
}

/// The full message of the InputError that reading `path` throws (and checks its key).
std::string read_error(const std::filesystem::path& path) {
  try {
    (void)read_npy(path, "init.path");
  } catch (const InputError& error) {
    EXPECT_EQ(error.key(), "init.path");
    return error.what();
  }
  ADD_FAILURE() << "no InputError for " << path;
  return {};
}

/// The message for a file holding `bytes`.
std::string read_error_for(const ScratchDir& dir, const std::string& bytes) {
  const auto path = dir / "bad.npy";
  write_bytes(path, bytes);
  return read_error(path);
}

TEST(IoNpy, RoundTripKeepsShapeAndExactBits) {
  ScratchDir dir;
  const std::vector<double> values{0.0,
                                   -0.0,
                                   1.0 / 3.0,
                                   -2.5e-310,  // subnormal
                                   std::numeric_limits<double>::max(),
                                   std::numeric_limits<double>::infinity(),
                                   std::numeric_limits<double>::quiet_NaN(),
                                   42.0,
                                   -7.125,
                                   1e-300,
                                   3.0,
                                   4.0};
  for (const std::vector<std::size_t>& shape :
       {std::vector<std::size_t>{3, 4}, {12}, {2, 3, 2}, {1, 12, 1}}) {
    const auto path = dir / "x.npy";
    write_npy_atomic(path, shape, values.data());
    const NpyArray array = read_npy(path, "init.path");
    EXPECT_EQ(array.shape, shape);
    ASSERT_EQ(array.data.size(), values.size());
    EXPECT_EQ(std::memcmp(array.data.data(), values.data(), values.size() * sizeof(double)), 0);
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"x.npy"});
}

TEST(IoNpy, RoundTripOfScalarAndEmptyArrays) {
  ScratchDir dir;
  const double pi = 3.25;
  write_npy_atomic(dir / "scalar.npy", {}, &pi);
  const NpyArray scalar = read_npy(dir / "scalar.npy", "k");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.data, std::vector<double>{3.25});

  write_npy_atomic(dir / "empty.npy", {0, 3}, nullptr);
  const NpyArray empty = read_npy(dir / "empty.npy", "k");
  EXPECT_EQ(empty.shape, (std::vector<std::size_t>{0, 3}));
  EXPECT_TRUE(empty.data.empty());
}

TEST(IoNpy, WriterProducesNumpysOwnLayout) {
  ScratchDir dir;
  const std::vector<double> values{1, 2, 3, 4, 5, 6};
  write_npy_atomic(dir / "x.npy", {2, 3}, values.data());
  // Exactly what numpy.save writes for np.arange(1., 7.).reshape(2, 3): a 1.0 header padded so
  // that the data starts at byte 128.
  const std::string expected = npy_file(1, f8_dict("(2, 3)"), payload_of(values));
  EXPECT_EQ(read_bytes(dir / "x.npy"), expected);
  EXPECT_EQ(expected.size(), 128u + 48u);
  // And for 1-d and 0-d shapes, Python's tuple spelling.
  write_npy_atomic(dir / "v.npy", {6}, values.data());
  EXPECT_EQ(read_bytes(dir / "v.npy"), npy_file(1, f8_dict("(6,)"), payload_of(values)));
  write_npy_atomic(dir / "s.npy", {}, values.data());
  EXPECT_EQ(read_bytes(dir / "s.npy"), npy_file(1, f8_dict("()"), payload_of<double>({1})));
}

TEST(IoNpy, WriterCreatesParentDirectories) {
  ScratchDir dir;
  const double one = 1.0;
  write_npy_atomic(dir / "deep/er/x.npy", {1}, &one);
  EXPECT_EQ(read_npy(dir / "deep/er/x.npy", "k").data, std::vector<double>{1.0});
}

TEST(IoNpy, ReadsHandWrittenFloat32AsExactDoubles) {
  ScratchDir dir;
  const std::vector<float> values{1.5f, -2.25f, 0.1f, 3e38f, -0.0f, 1e-45f};
  write_bytes(dir / "f.npy",
              npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                       payload_of(values)));
  const NpyArray array = read_npy(dir / "f.npy", "init.path");
  EXPECT_EQ(array.shape, (std::vector<std::size_t>{2, 3}));
  ASSERT_EQ(array.data.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(array.data[i], static_cast<double>(values[i])) << i;
  }
  EXPECT_TRUE(std::signbit(array.data[4]));
}

TEST(IoNpy, ReadsFloat32LargerThanOneConversionBlock) {
  ScratchDir dir;
  std::vector<float> values(200000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f;
  write_bytes(dir / "f.npy",
              npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (200000,), }",
                       payload_of(values)));
  const NpyArray array = read_npy(dir / "f.npy", "k");
  ASSERT_EQ(array.data.size(), values.size());
  EXPECT_EQ(array.data.front(), 0.0);
  EXPECT_EQ(array.data[65536], 32768.0);
  EXPECT_EQ(array.data.back(), 99999.5);
}

TEST(IoNpy, ReadsVersion2And3HeadersWithFourByteLength) {
  ScratchDir dir;
  const std::vector<double> values{1.0, -2.0, 4.5};
  for (const int major : {2, 3}) {
    write_bytes(dir / "v.npy", npy_file(major, f8_dict("(3,)"), payload_of(values)));
    const NpyArray array = read_npy(dir / "v.npy", "k");
    EXPECT_EQ(array.shape, std::vector<std::size_t>{3}) << major;
    EXPECT_EQ(array.data, values) << major;
  }
}

TEST(IoNpy, AcceptsHeaderSpellingVariants) {
  ScratchDir dir;
  const std::vector<double> values{1.0, 2.0};
  // Key order, double quotes, no trailing comma, Python 2 longs, extra spaces.
  for (const std::string dict :
       {"{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}",
        "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }",
        "{ 'descr' : '<f8' , 'fortran_order' : False , 'shape' : ( 1 , 2 ) }"}) {
    write_bytes(dir / "v.npy", npy_file(1, dict, payload_of(values)));
    EXPECT_EQ(read_npy(dir / "v.npy", "k").data, values) << dict;
  }
}

TEST(IoNpy, MissingFile) {
  ScratchDir dir;
  EXPECT_EQ(read_error(dir / "x.npy"),
            "init.path: file not found: '" + (dir / "x.npy").string() + "'");
}

TEST(IoNpy, DirectoryInsteadOfFile) {
  ScratchDir dir;
  EXPECT_EQ(read_error(dir.path()),
            "init.path: '" + dir.path().string() + "' is not a regular file; expected a .npy file");
}

TEST(IoNpy, BadMagic) {
  ScratchDir dir;
  const std::string message = "init.path: '" + (dir / "bad.npy").string() +
                              "' is not a .npy file (it does not start with the NumPy magic "
                              "string); write arrays with numpy.save";
  EXPECT_EQ(read_error_for(dir, "PK\x03\x04 this is a zip file, e.g. an .npz"), message);
  EXPECT_EQ(read_error_for(dir, ""), message);
  EXPECT_EQ(read_error_for(dir, "\x93NUM"), message);
}

TEST(IoNpy, UnsupportedVersion) {
  ScratchDir dir;
  EXPECT_EQ(read_error_for(dir, npy_file(4, f8_dict("(1,)"), payload_of<double>({1}))),
            "init.path: unsupported .npy format version 4.0; allowed: 1.0, 2.0 or 3.0");
  std::string minor = npy_file(1, f8_dict("(1,)"), payload_of<double>({1}));
  minor[7] = 1;
  EXPECT_EQ(read_error_for(dir, minor),
            "init.path: unsupported .npy format version 1.1; allowed: 1.0, 2.0 or 3.0");
}

TEST(IoNpy, TruncatedHeader) {
  ScratchDir dir;
  EXPECT_EQ(read_error_for(dir, std::string("\x93NUMPY\x01", 7)),
            "init.path: file is truncated inside the .npy header");
  EXPECT_EQ(read_error_for(dir, std::string("\x93NUMPY\x02\x00\x10", 9)),
            "init.path: file is truncated inside the .npy header");
  const std::string whole = npy_file(1, f8_dict("(1,)"), "");
  EXPECT_EQ(read_error_for(dir, whole.substr(0, 40)),
            "init.path: file is truncated inside the .npy header: it declares 118 header bytes, "
            "found 30");
}

TEST(IoNpy, FortranOrderIsRefused) {
  ScratchDir dir;
  EXPECT_EQ(read_error_for(dir, npy_file(1,
                                         "{'descr': '<f8', 'fortran_order': True, 'shape': "
                                         "(2, 2), }",
                                         payload_of<double>({1, 2, 3, 4}))),
            "init.path: fortran_order=True is not supported; allowed: C-ordered arrays (save "
            "numpy.ascontiguousarray(a))");
}

TEST(IoNpy, OtherDtypesAreRefused) {
  ScratchDir dir;
  const auto with_descr = [&](const std::string& descr) {
    return read_error_for(
        dir, npy_file(1, "{'descr': " + descr + ", 'fortran_order': False, 'shape': (2,), }",
                      std::string(16, '\0')));
  };
  EXPECT_EQ(with_descr("'<i4'"),
            "init.path: dtype '<i4' is not supported; allowed: float64 ('<f8') or float32 "
            "('<f4')");
  EXPECT_EQ(with_descr("'<f2'"),
            "init.path: dtype '<f2' is not supported; allowed: float64 ('<f8') or float32 "
            "('<f4')");
  EXPECT_EQ(with_descr("'<c16'"),
            "init.path: dtype '<c16' is not supported; allowed: float64 ('<f8') or float32 "
            "('<f4')");
  EXPECT_EQ(with_descr("[('a', '<f8')]"),
            "init.path: dtype [('a', '<f8')] is not supported; allowed: float64 ('<f8') or "
            "float32 ('<f4')");
}

TEST(IoNpy, BigEndianIsRefused) {
  ScratchDir dir;
  EXPECT_EQ(read_error_for(dir, npy_file(1,
                                         "{'descr': '>f8', 'fortran_order': False, 'shape': "
                                         "(1,), }",
                                         std::string(8, '\0'))),
            "init.path: dtype '>f8' is big-endian, which is not supported; allowed: float64 "
            "('<f8') or float32 ('<f4')");
}

TEST(IoNpy, TruncatedData) {
  ScratchDir dir;
  const std::string payload = payload_of<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_EQ(read_error_for(dir, npy_file(1, f8_dict("(3, 4)"), payload.substr(0, 80))),
            "init.path: file is truncated: shape (3, 4) of float64 needs 96 bytes of data, "
            "found 80");
  EXPECT_EQ(read_error_for(dir, npy_file(1,
                                         "{'descr': '<f4', 'fortran_order': False, 'shape': "
                                         "(5,), }",
                                         std::string(19, '\0'))),
            "init.path: file is truncated: shape (5,) of float32 needs 20 bytes of data, "
            "found 19");
}

TEST(IoNpy, TrailingBytesAreRefused) {
  ScratchDir dir;
  EXPECT_EQ(read_error_for(dir, npy_file(1, f8_dict("(1,)"), std::string(16, '\0'))),
            "init.path: file has 8 unexpected bytes after the data: shape (1,) of float64 needs "
            "exactly 8");
}

TEST(IoNpy, HugeShapeIsRefusedBeforeAllocating) {
  ScratchDir dir;
  EXPECT_EQ(read_error_for(dir, npy_file(1, f8_dict("(4294967296, 4294967296)"), "")),
            "init.path: shape (4294967296, 4294967296) is too large");
  EXPECT_EQ(read_error_for(dir, npy_file(1, f8_dict("(1000000000,)"), "")),
            "init.path: file is truncated: shape (1000000000,) of float64 needs 8000000000 "
            "bytes of data, found 0");
}

TEST(IoNpy, MalformedHeaders) {
  ScratchDir dir;
  const auto with_dict = [&](const std::string& dict) {
    return read_error_for(dir, npy_file(1, dict, std::string(8, '\0')));
  };
  EXPECT_EQ(with_dict("{'descr': '<f8', 'fortran_order': False}"),
            "init.path: malformed .npy header: missing key 'shape'");
  EXPECT_EQ(with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}"),
            "init.path: malformed .npy header: unexpected key 'x'; allowed: 'descr', "
            "'fortran_order', 'shape'");
  EXPECT_EQ(with_dict("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}"),
            "init.path: malformed .npy header: duplicate key 'descr'");
  EXPECT_EQ(with_dict("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}"),
            "init.path: malformed .npy header: 'fortran_order' must be True or False, got 0");
  EXPECT_EQ(with_dict(f8_dict("(-1,)")),
            "init.path: malformed .npy header: 'shape' must be a tuple of non-negative integers, "
            "got (-1,)");
  EXPECT_EQ(with_dict(f8_dict("[1]")),
            "init.path: malformed .npy header: 'shape' must be a tuple of non-negative integers, "
            "got [1]");
  EXPECT_EQ(with_dict("['descr', '<f8']"),
            "init.path: malformed .npy header: expected '{' at header byte 0");
  EXPECT_EQ(with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} x"),
            "init.path: malformed .npy header: unexpected text after the closing '}' at header "
            "byte 56");
  EXPECT_EQ(with_dict("{'descr': '<f8"),
            "init.path: malformed .npy header: unterminated string at header byte 54");
  EXPECT_EQ(with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}"),
            "init.path: malformed .npy header: integer too large at header byte 71");
  EXPECT_EQ(with_dict("{'descr': " + std::string(40, '(') + std::string(40, ')') + "}"),
            "init.path: malformed .npy header: nesting too deep at header byte 27");
}

}  // namespace
}  // namespace attnflow::io
