// Atomic file replacement: temporary names, directory creation, content, error messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "test_io_support.hpp"

namespace attnflow::io {
namespace {

using testing::read_bytes;
using testing::ScratchDir;

TEST(IoAtomic, TemporarySiblingIsHiddenInTheSameDirectoryAndUnique) {
  const std::filesystem::path final_path = "/some/dir/run.h5";
  const auto first = temporary_sibling(final_path);
  const auto second = temporary_sibling(final_path);
  EXPECT_EQ(first.parent_path(), final_path.parent_path());
  const std::string prefix = ".run.h5.tmp-" + std::to_string(::getpid()) + "-";
  EXPECT_EQ(first.filename().string().rfind(prefix, 0), 0u) << first;
  EXPECT_EQ(second.filename().string().rfind(prefix, 0), 0u) << second;
  EXPECT_NE(first, second);
}

TEST(IoAtomic, TemporarySiblingOfABareNameIsInTheCurrentDirectory) {
  const auto temp = temporary_sibling("run.h5");
  EXPECT_TRUE(temp.parent_path().empty()) << temp;
}

TEST(IoAtomic, TemporarySiblingRefusesAPathWithoutFileName) {
  try {
    (void)temporary_sibling("out/");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_EQ(error.key(), "output");
    EXPECT_STREQ(error.what(), "output: 'out/' does not name a file");
  }
}

TEST(IoAtomic, WriteTextCreatesParentsAndLeavesNoTemporary) {
  ScratchDir dir;
  const auto path = dir / "a/b/notes.txt";
  write_text_atomic(path, "hello\nworld");
  EXPECT_EQ(read_bytes(path), "hello\nworld");
  EXPECT_EQ(dir.entries(dir / "a/b"), std::vector<std::string>{"notes.txt"});
}

TEST(IoAtomic, WriteTextReplacesAnExistingFile) {
  ScratchDir dir;
  const auto path = dir / "notes.txt";
  write_text_atomic(path, "a much longer first version");
  write_text_atomic(path, "short");
  EXPECT_EQ(read_bytes(path), "short");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"notes.txt"});
}

TEST(IoAtomic, WriteTextHandlesEmptyContentAndEmbeddedNul) {
  ScratchDir dir;
  write_text_atomic(dir / "empty", "");
  EXPECT_EQ(read_bytes(dir / "empty"), "");
  const std::string binary("a\0b", 3);
  write_text_atomic(dir / "binary", binary);
  EXPECT_EQ(read_bytes(dir / "binary"), binary);
}

TEST(IoAtomic, WriteJsonIsPrettyWithTwoSpacesAndTrailingNewline) {
  ScratchDir dir;
  const auto path = dir / "meta.json";
  write_json_atomic(path, nlohmann::json{{"b", {1, 2}}, {"a", "x"}, {"c", 0.1}});
  // nlohmann::json objects are key-sorted; 0.1 prints as the shortest round-trip form.
  EXPECT_EQ(read_bytes(path),
            "{\n  \"a\": \"x\",\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": 0.1\n}\n");
}

TEST(IoAtomic, WriteJsonReplacesInvalidUtf8InsteadOfFailing) {
  ScratchDir dir;
  const auto path = dir / "meta.json";
  write_json_atomic(path, nlohmann::json{{"file", std::string("a\xff") + "b"}});
  EXPECT_EQ(read_bytes(path),
            "{\n  \"file\": \"a\xEF\xBF\xBD"
            "b\"\n}\n");
}

TEST(IoAtomic, UncreatableDirectoryIsAnInputErrorOnOutput) {
  ScratchDir dir;
  testing::write_bytes(dir / "plain", "not a directory");
  try {
    write_text_atomic(dir / "plain/sub/notes.txt", "x");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_EQ(error.key(), "output");
    EXPECT_EQ(std::string(error.what()), "output: cannot create directory '" +
                                             (dir / "plain/sub").string() + "': Not a directory");
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

TEST(IoAtomic, UnwritableDirectoryIsAnInputErrorAndLeavesNothing) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  ScratchDir dir;
  const auto locked = dir / "locked";
  std::filesystem::create_directory(locked);
  std::filesystem::permissions(
      locked, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  try {
    write_text_atomic(locked / "notes.txt", "x");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_EQ(
        std::string(error.what()),
        "output: cannot create file '" + (locked / "notes.txt").string() + "': Permission denied");
  }
  std::filesystem::permissions(locked, std::filesystem::perms::owner_all);
  EXPECT_TRUE(dir.entries(locked).empty());
}

TEST(IoAtomic, ReplacingADirectoryFailsAndRemovesTheTemporary) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "taken/inner");
  try {
    write_text_atomic(dir / "taken", "x");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_EQ(std::string(error.what()),
              "output: cannot replace '" + (dir / "taken").string() + "': Is a directory");
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"});
}

}  // namespace
}  // namespace attnflow::io
