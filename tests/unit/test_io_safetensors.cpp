// safetensors reading. Files are built byte by byte here from the format's specification; the
// expected doubles are written out by hand (not produced by the converters under test).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "attnflow/error.hpp"
#include "attnflow/io/npy.hpp"
#include "attnflow/io/safetensors.hpp"
#include "test_io_support.hpp"

namespace attnflow::io {
namespace {

using testing::ScratchDir;
using testing::write_bytes;

/// 8-byte little-endian length, the JSON header, the data.
std::string safetensors_file(const std::string& header, const std::string& data) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return bytes + header + data;
}

/// Little-endian bytes of 16-bit patterns.
std::string halves(const std::vector<std::uint16_t>& bits) {
  std::string bytes;
  for (const std::uint16_t b : bits) {
    bytes += static_cast<char>(b & 0xFF);
    bytes += static_cast<char>(b >> 8);
  }
  return bytes;
}

template <typename T>
std::string payload_of(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  std::size_t begin, std::size_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

NdArray read(const ScratchDir& dir, const std::string& bytes, const std::string& name) {
  write_bytes(dir / "w.safetensors", bytes);
  return read_safetensors(dir / "w.safetensors", name, "model.Q.path", "model.Q.array");
}

TEST(IoSafetensors, ReadsEveryDtypeExactly) {
  ScratchDir dir;
  // F16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), 0.333251953125 (0x3555), -0.
  const std::vector<std::uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x8000};
  // BF16: 1, -5, 0.333984375 (0x3EAB), 2^-133 (smallest subnormal 0x0001), 3.3895313892515355e38
  // (largest, 0x7F7F), 0.5.
  const std::vector<std::uint16_t> bf16 = {0x3F80, 0xC0A0, 0x3EAB, 0x0001, 0x7F7F, 0x3F00};
  const std::vector<float> f32 = {0.1f, -3.0f, 1e-40f, 7.0f};
  const std::vector<double> f64 = {0.1, -1e300, 5e-324, 2.0};
  const std::string data = halves(f16) + halves(bf16) + payload_of(f32) + payload_of(f64);
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"}," + entry("h", "F16", "[2,3]", 0, 12) + "," +
      entry("b", "BF16", "[3,1,2]", 12, 24) + "," + entry("f", "F32", "[2,2]", 24, 40) + "," +
      entry("d", "F64", "[1,4]", 40, 72) + "}";
  const std::string bytes = safetensors_file(header, data);

  const NdArray h = read(dir, bytes, "h");
  EXPECT_EQ(h.shape, (std::vector<std::size_t>{2, 3}));
  const std::vector<double> h_expected = {
      1.0, -2.0, 65504.0, 5.9604644775390625e-08, 0.333251953125, -0.0};
  EXPECT_EQ(h.data, h_expected);
  EXPECT_TRUE(std::signbit(h.data[5]));

  const NdArray b = read(dir, bytes, "b");
  EXPECT_EQ(b.shape, (std::vector<std::size_t>{3, 1, 2}));
  const std::vector<double> b_expected = {
      1.0, -5.0, 0.333984375, 9.183549615799121e-41, 3.3895313892515355e38, 0.5};
  EXPECT_EQ(b.data, b_expected);

  const NdArray f = read(dir, bytes, "f");
  EXPECT_EQ(f.data,
            (std::vector<double>{0.100000001490116119384765625, -3.0, 9.99994610111476e-41, 7.0}));
  const NdArray d = read(dir, bytes, "d");
  EXPECT_EQ(d.shape, (std::vector<std::size_t>{1, 4}));
  EXPECT_EQ(d.data, f64);
}

TEST(IoSafetensors, HalfConversionMatchesBinary32BitsForAllPatterns) {
  // Independent route: a binary16 normal number has the binary32 bits
  // sign | (exponent - 15 + 127) << 23 | mantissa << 13; a subnormal is mantissa · 2^-24.
  for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const std::uint32_t sign = (bits & 0x8000u) << 16, exponent = (bits >> 10) & 0x1F,
                        mantissa = bits & 0x3FF;
    const double got = half_to_double(static_cast<std::uint16_t>(bits));
    if (exponent == 0x1F && mantissa != 0) {
      EXPECT_TRUE(std::isnan(got)) << bits;
      continue;
    }
    double expected = 0.0;
    if (exponent == 0x1F) {
      expected = std::numeric_limits<double>::infinity();
    } else if (exponent == 0) {
      expected = static_cast<double>(mantissa) / 16777216.0;
    } else {
      expected = std::bit_cast<float>(((exponent + 112) << 23) | (mantissa << 13));
    }
    if (sign != 0) expected = -expected;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(expected)) << bits;
  }
}

TEST(IoSafetensors, OnlyTensorIsChosenWithoutAName) {
  ScratchDir dir;
  const auto bytes = safetensors_file("{" + entry("w", "F64", "[1,1]", 0, 8) + "}",
                                      payload_of(std::vector<double>{3.5}));
  EXPECT_EQ(read(dir, bytes, "").data, std::vector<double>{3.5});
}

std::string error_of(const ScratchDir& dir, const std::string& bytes, const std::string& name,
                     std::string* key = nullptr) {
  try {
    (void)read(dir, bytes, name);
  } catch (const InputError& error) {
    if (key != nullptr) *key = error.key();
    return error.what();
  }
  return "no error";
}

TEST(IoSafetensors, ChoosingNamesTheTensors) {
  ScratchDir dir;
  const auto bytes = safetensors_file(
      "{" + entry("a", "F64", "[1,1]", 0, 8) + "," + entry("b", "F64", "[1,1]", 8, 16) + "}",
      payload_of(std::vector<double>{1.0, 2.0}));
  std::string key;
  EXPECT_EQ(error_of(dir, bytes, "", &key),
            "model.Q.array: is required: the file holds 2 tensors: 'a', 'b'");
  EXPECT_EQ(key, "model.Q.array");
  EXPECT_EQ(error_of(dir, bytes, "c"),
            "model.Q.array: the file has no tensor 'c'; it holds: 'a', 'b'");
  EXPECT_EQ(error_of(dir, safetensors_file("{}", ""), ""),
            "model.Q.path: the file holds no tensors");
}

TEST(IoSafetensors, MalformedHeaders) {
  ScratchDir dir;
  const std::string data = payload_of(std::vector<double>{1.0, 2.0});
  const auto with = [&](const std::string& value) {
    return error_of(dir, safetensors_file("{\"q\":" + value + "}", data), "q");
  };
  const std::string prefix = "model.Q.path: malformed .safetensors header: tensor 'q' ";
  EXPECT_EQ(with("[1]"), prefix + "must be an object with dtype, shape and data_offsets");
  EXPECT_EQ(with(R"({"dtype":5,"shape":[2],"data_offsets":[0,16]})"),
            prefix + "has a dtype that is not a string");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":2,"data_offsets":[0,16]})"),
            prefix + "has a shape that is not a list");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":[2.5],"data_offsets":[0,16]})"),
            prefix + "has a shape that is not a list of non-negative integers");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,16]})"),
            prefix + "is too large");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":[2],"data_offsets":[0]})"),
            prefix + "has data_offsets that are not [begin, end] with 0 <= begin <= end");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":[2],"data_offsets":[0,-16]})"),
            prefix + "has data_offsets that are not [begin, end] with 0 <= begin <= end");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":[2],"data_offsets":[8,24]})"),
            "model.Q.path: tensor 'q' has data_offsets [8, 24] beyond the data section of 16 bytes "
            "(truncated or corrupt file)");
  EXPECT_EQ(with(R"({"dtype":"F64","shape":[1],"data_offsets":[0,16]})"),
            prefix + "has data_offsets [0, 16] spanning 16 bytes; shape (1,) of F64 needs 8");
  EXPECT_EQ(
      with(R"({"dtype":"U8","shape":[16],"data_offsets":[0,16]})"),
      "model.Q.path: tensor 'q' has dtype U8, which is not supported; allowed: F64, F32, F16, "
      "BF16");
  EXPECT_EQ(error_of(dir, safetensors_file("[1, 2]", ""), "q"),
            "model.Q.path: malformed .safetensors header: not a JSON object");
  // A header length of 2^64 - 1 must not wrap around when checked against the file size.
  EXPECT_EQ(error_of(dir, std::string(8, '\xFF') + "{}", "q"),
            "model.Q.path: file is truncated inside the .safetensors header: it declares "
            "18446744073709551615 header bytes, found 2");
}

TEST(IoSafetensors, EveryTruncationAndEveryCorruptedByteIsAnErrorOrAValidArray) {
  ScratchDir dir;
  const std::string header = "{" + entry("q", "F32", "[2,2]", 0, 16) + "}";
  const std::string bytes =
      safetensors_file(header, payload_of(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
  for (std::size_t keep = 0; keep < bytes.size(); ++keep) {
    EXPECT_THROW((void)read(dir, bytes.substr(0, keep), "q"), InputError) << keep;
  }
  // Every header byte replaced by characters that break numbers, quotes and brackets: each file
  // must be refused with an InputError or read as an array that fits the file.
  for (std::size_t at = 0; at < 8 + header.size(); ++at) {
    for (const char c : {'\0', '9', '"', ']', '-', '\xFF'}) {
      std::string corrupt = bytes;
      corrupt[at] = c;
      try {
        const NdArray a = read(dir, corrupt, "q");
        std::size_t count = 1;
        for (const std::size_t e : a.shape) count *= e;
        EXPECT_EQ(count, a.data.size());
      } catch (const InputError&) {
      }
    }
  }
}

TEST(IoSafetensors, DirectoryAndMissingFile) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "d.safetensors");
  EXPECT_THROW((void)read_safetensors(dir / "d.safetensors", "", "k", "a"), InputError);
  EXPECT_THROW((void)read_safetensors(dir / "none.safetensors", "", "k", "a"), InputError);
}

TEST(IoNpyInMemory, EveryPrefixOfAnNpyIsRefusedAndTheWholeIsRead) {
  // parse_npy reads .npz members; it must refuse what read_npy refuses.
  ScratchDir dir;
  write_npy_atomic(dir / "x.npy", {2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6}.data());
  const std::string bytes = testing::read_bytes(dir / "x.npy");
  const NdArray whole = parse_npy(bytes, "k");
  EXPECT_EQ(whole.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(whole.data, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  for (std::size_t keep = 0; keep < bytes.size(); ++keep)
    EXPECT_THROW((void)parse_npy(bytes.substr(0, keep), "k"), InputError) << keep;
  EXPECT_THROW((void)parse_npy(bytes + "x", "k"), InputError);
}

}  // namespace
}  // namespace attnflow::io
