// RunWriter: layout and values read back with the HDF5 C API, atomic visibility, reproducibility.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "attnflow/error.hpp"
#include "attnflow/io/run_writer.hpp"
#include "test_io_support.hpp"

namespace attnflow::io {
namespace {

using testing::read_bytes;
using testing::ScratchDir;

/// An HDF5 identifier closed on scope exit (test-side reader, independent of the writer's).
class Id {
 public:
  Id(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() {
    if (id_ >= 0) closer_(id_);
  }
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*closer_)(hid_t);
};

/// A float64 dataset read whole: its dimensions and values in C order.
struct Read {
  std::vector<hsize_t> dims;
  std::vector<hsize_t> max_dims;
  std::vector<double> values;
};

Read read_dataset(hid_t file, const std::string& name) {
  Id dataset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  EXPECT_GE(dataset, 0) << name;
  Id space(H5Dget_space(dataset), H5Sclose);
  Read result;
  const int rank = H5Sget_simple_extent_ndims(space);
  result.dims.resize(static_cast<std::size_t>(rank));
  result.max_dims.resize(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, result.dims.data(), result.max_dims.data());
  result.values.resize(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  if (!result.values.empty()) {
    EXPECT_GE(
        H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, result.values.data()),
        0);
  }
  return result;
}

std::string read_string_attribute(hid_t file, const std::string& name) {
  Id attribute(H5Aopen(file, name.c_str(), H5P_DEFAULT), H5Aclose);
  Id type(H5Aget_type(attribute), H5Tclose);
  EXPECT_EQ(H5Tis_variable_str(type), 1);
  EXPECT_EQ(H5Tget_cset(type), H5T_CSET_UTF8);
  char* text = nullptr;
  EXPECT_GE(H5Aread(attribute, type, &text), 0);
  std::string value = text != nullptr ? text : "";
  H5free_memory(text);
  return value;
}

template <typename T>
T read_attribute(hid_t file, const std::string& name, hid_t memory_type, H5T_class_t type_class) {
  Id attribute(H5Aopen(file, name.c_str(), H5P_DEFAULT), H5Aclose);
  Id type(H5Aget_type(attribute), H5Tclose);
  EXPECT_EQ(H5Tget_class(type), type_class) << name;
  EXPECT_EQ(H5Tget_size(type), 8u) << name;
  T value{};
  EXPECT_GE(H5Aread(attribute, memory_type, &value), 0);
  return value;
}

/// Chunk dimensions and the filters of a dataset.
struct Storage {
  std::vector<hsize_t> chunk;
  std::vector<H5Z_filter_t> filters;
};

Storage storage_of(hid_t file, const std::string& name) {
  Id dataset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  Id dcpl(H5Dget_create_plist(dataset), H5Pclose);
  Storage storage;
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) return storage;
  storage.chunk.resize(8);
  storage.chunk.resize(static_cast<std::size_t>(H5Pget_chunk(dcpl, 8, storage.chunk.data())));
  for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
    unsigned flags = 0;
    std::size_t count = 0;
    unsigned config = 0;
    storage.filters.push_back(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &count,
                                             nullptr, 0, nullptr, &config));
  }
  return storage;
}

/// A layout with everything: trajectory, two scalar observables, one token observable.
RunLayout full_layout() {
  return RunLayout{4, 3, true, {"energy", "mean_cos"}, {"degree"}};
}

/// Appends frame k of a deterministic test sequence to a writer of full_layout().
void append_test_frame(RunWriter& writer, int k) {
  std::vector<double> x(12);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 100.0 * k + static_cast<double>(i) / 8.0;
  const std::vector<double> degree{1.0 * k, 2.0 * k, 3.0 * k, 4.0 * k};
  writer.append(0.5 * k, x.data(), {-1.0 * k, 0.25 * k}, {degree.data()});
}

/// A complete, committed file with three frames, attributes and a fixed dataset.
void write_test_run(const std::filesystem::path& path) {
  RunWriter writer(path, full_layout());
  writer.set_attribute("config", std::string("[model]\nbeta = 1.5\n"));
  writer.set_attribute("seed", std::int64_t{12345});
  writer.set_attribute("beta", 1.5);
  writer.set_attribute("n", std::size_t{4});
  const std::vector<double> weights{1, 2, 3, 4, 5, 6};
  writer.write_dataset("weights", {2, 3}, weights.data());
  for (int k = 0; k < 3; ++k) append_test_frame(writer, k);
  EXPECT_EQ(writer.frames(), 3u);
  writer.commit();
}

TEST(IoRunWriter, WritesTheDocumentedLayout) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  write_test_run(path);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.h5"});

  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  ASSERT_GE(file, 0);
  const Read t = read_dataset(file, "t");
  EXPECT_EQ(t.dims, std::vector<hsize_t>{3});
  EXPECT_EQ(t.max_dims, std::vector<hsize_t>{H5S_UNLIMITED});
  EXPECT_EQ(t.values, (std::vector<double>{0.0, 0.5, 1.0}));

  const Read x = read_dataset(file, "x");
  EXPECT_EQ(x.dims, (std::vector<hsize_t>{3, 4, 3}));
  EXPECT_EQ(x.max_dims, (std::vector<hsize_t>{H5S_UNLIMITED, 4, 3}));
  ASSERT_EQ(x.values.size(), 36u);
  for (int k = 0; k < 3; ++k) {
    for (std::size_t i = 0; i < 12; ++i) {
      EXPECT_EQ(x.values[12 * static_cast<std::size_t>(k) + i],
                100.0 * k + static_cast<double>(i) / 8.0);
    }
  }
  const Storage x_storage = storage_of(file, "x");
  EXPECT_EQ(x_storage.chunk, (std::vector<hsize_t>{1, 4, 3}));
  EXPECT_EQ(x_storage.filters, (std::vector<H5Z_filter_t>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}));

  const Read energy = read_dataset(file, "energy");
  EXPECT_EQ(energy.dims, std::vector<hsize_t>{3});
  EXPECT_EQ(energy.values, (std::vector<double>{-0.0, -1.0, -2.0}));
  EXPECT_EQ(read_dataset(file, "mean_cos").values, (std::vector<double>{0.0, 0.25, 0.5}));

  const Read degree = read_dataset(file, "degree");
  EXPECT_EQ(degree.dims, (std::vector<hsize_t>{3, 4}));
  EXPECT_EQ(degree.max_dims, (std::vector<hsize_t>{H5S_UNLIMITED, 4}));
  EXPECT_EQ(degree.values, (std::vector<double>{0, 0, 0, 0, 1, 2, 3, 4, 2, 4, 6, 8}));

  const Read weights = read_dataset(file, "weights");
  EXPECT_EQ(weights.dims, (std::vector<hsize_t>{2, 3}));
  EXPECT_EQ(weights.values, (std::vector<double>{1, 2, 3, 4, 5, 6}));

  EXPECT_EQ(read_string_attribute(file, "config"), "[model]\nbeta = 1.5\n");
  EXPECT_EQ(read_attribute<std::int64_t>(file, "seed", H5T_NATIVE_INT64, H5T_INTEGER), 12345);
  EXPECT_EQ(read_attribute<std::int64_t>(file, "n", H5T_NATIVE_INT64, H5T_INTEGER), 4);
  EXPECT_EQ(read_attribute<double>(file, "beta", H5T_NATIVE_DOUBLE, H5T_FLOAT), 1.5);

  H5G_info_t info{};
  ASSERT_GE(H5Gget_info(file, &info), 0);
  EXPECT_EQ(info.nlinks, 6u);  // t, x, energy, mean_cos, degree, weights
}

TEST(IoRunWriter, WithoutTrajectoryThereIsNoX) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  {
    RunWriter writer(path, RunLayout{2, 5, false, {"energy"}, {}});
    writer.append(0.0, nullptr, {3.0}, {});
    writer.append(1.0, nullptr, {4.0}, {});
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(H5Lexists(file, "x", H5P_DEFAULT), 0);
  EXPECT_EQ(read_dataset(file, "t").values, (std::vector<double>{0.0, 1.0}));
  EXPECT_EQ(read_dataset(file, "energy").values, (std::vector<double>{3.0, 4.0}));
}

TEST(IoRunWriter, ZeroFramesGiveEmptyExtendibleDatasets) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  {
    RunWriter writer(path, full_layout());
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(read_dataset(file, "x").dims, (std::vector<hsize_t>{0, 4, 3}));
  EXPECT_EQ(read_dataset(file, "degree").dims, (std::vector<hsize_t>{0, 4}));
  EXPECT_EQ(read_dataset(file, "t").dims, std::vector<hsize_t>{0});
}

TEST(IoRunWriter, LargeFramesAreChunkedOverTokens) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  const std::size_t n = 100000;
  const std::size_t d = 8;  // 6.4 MB per frame: above the 4 MiB chunk limit
  std::vector<double> x(n * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i % 1000);
  {
    RunWriter writer(path, RunLayout{n, d, true, {}, {"degree"}});
    writer.append(0.0, x.data(), {}, {x.data()});
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(storage_of(file, "x").chunk, (std::vector<hsize_t>{1, 65536, 8}));
  EXPECT_EQ(storage_of(file, "degree").chunk, (std::vector<hsize_t>{1, 100000}));
  const Read back = read_dataset(file, "x");
  EXPECT_EQ(back.dims, (std::vector<hsize_t>{1, n, d}));
  EXPECT_EQ(back.values, x);
}

TEST(IoRunWriter, ScalarAndTokenSeriesAreChunkedOverSeveralFrames) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  {
    RunWriter writer(path, full_layout());
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(storage_of(file, "t").chunk, std::vector<hsize_t>{256});
  EXPECT_EQ(storage_of(file, "energy").chunk, std::vector<hsize_t>{256});
  EXPECT_EQ(storage_of(file, "degree").chunk, (std::vector<hsize_t>{256, 4}));
  EXPECT_TRUE(storage_of(file, "t").filters.empty());
}

TEST(IoRunWriter, ManyFramesAcrossChunkBoundaries) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  const int frames = 600;  // more than two chunks of /t
  {
    RunWriter writer(path, full_layout());
    for (int k = 0; k < frames; ++k) append_test_frame(writer, k);
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  const Read t = read_dataset(file, "t");
  ASSERT_EQ(t.values.size(), static_cast<std::size_t>(frames));
  for (int k = 0; k < frames; ++k) EXPECT_EQ(t.values[static_cast<std::size_t>(k)], 0.5 * k);
  const Read degree = read_dataset(file, "degree");
  EXPECT_EQ(degree.values[4 * 599 + 3], 4.0 * 599);
}

TEST(IoRunWriter, AttributesCanBeReplaced) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  {
    RunWriter writer(path, full_layout());
    writer.set_attribute("status", std::string("running"));
    writer.set_attribute("status", std::string("done"));
    writer.set_attribute("steps", 10);
    writer.set_attribute("steps", 20.0);  // a different type replaces as well
    writer.set_attribute("long", std::string(100000, 'a'));
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(read_string_attribute(file, "status"), "done");
  EXPECT_EQ(read_attribute<double>(file, "steps", H5T_NATIVE_DOUBLE, H5T_FLOAT), 20.0);
  EXPECT_EQ(read_string_attribute(file, "long").size(), 100000u);
}

TEST(IoRunWriter, UnsignedAttributeBeyondInt64IsRefused) {
  ScratchDir dir;
  RunWriter writer(dir / "run.h5", full_layout());
  try {
    writer.set_attribute("big", std::numeric_limits<std::uint64_t>::max());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "attribute 'big' does not fit in int64");
  }
  writer.set_attribute("fits", std::uint64_t{1} << 62);
  writer.commit();
  Id file(H5Fopen((dir / "run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(read_attribute<std::int64_t>(file, "fits", H5T_NATIVE_INT64, H5T_INTEGER),
            std::int64_t{1} << 62);
  EXPECT_EQ(H5Aexists(file, "big"), 0);
}

TEST(IoRunWriter, ScalarFixedDataset) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  {
    RunWriter writer(path, full_layout());
    const double value = 2.5;
    writer.write_dataset("temperature", {}, &value);
    writer.write_dataset("nothing", {0, 3}, nullptr);
    writer.commit();
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  const Read scalar = read_dataset(file, "temperature");
  EXPECT_TRUE(scalar.dims.empty());
  EXPECT_EQ(scalar.values, std::vector<double>{2.5});
  EXPECT_EQ(read_dataset(file, "nothing").dims, (std::vector<hsize_t>{0, 3}));
}

TEST(IoRunWriter, NothingIsVisibleBeforeCommit) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  RunWriter writer(path, full_layout());
  append_test_frame(writer, 0);
  EXPECT_FALSE(std::filesystem::exists(path));
  const auto entries = dir.entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].rfind(".run.h5.tmp-", 0), 0u) << entries[0];
  writer.commit();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.h5"});
}

TEST(IoRunWriter, UncommittedWriterLeavesNoFileAtAll) {
  ScratchDir dir;
  {
    RunWriter writer(dir / "out/run.h5", full_layout());
    writer.set_attribute("seed", 1);
    for (int k = 0; k < 5; ++k) append_test_frame(writer, k);
  }
  EXPECT_TRUE(dir.entries(dir / "out").empty());
}

TEST(IoRunWriter, IdenticalCallsGiveByteIdenticalFiles) {
  ScratchDir dir;
  write_test_run(dir / "a/run.h5");
  // HDF5 timestamps have one-second resolution: wait so that any stored time would differ.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  write_test_run(dir / "b/run.h5");
  const std::string a = read_bytes(dir / "a/run.h5");
  const std::string b = read_bytes(dir / "b/run.h5");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "run files differ (sizes " << a.size() << " and " << b.size() << ")";
}

TEST(IoRunWriter, CommitReplacesAnOlderFile) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  testing::write_bytes(path, "old");
  write_test_run(path);
  EXPECT_NE(read_bytes(path), "old");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.h5"});
}

TEST(IoRunWriter, FinalPathUntouchedWhenAnExceptionComesBeforeCommit) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  testing::write_bytes(path, "old");
  try {
    RunWriter writer(path, full_layout());
    append_test_frame(writer, 0);
    throw std::runtime_error("the simulation failed");
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "the simulation failed");
  }
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.h5"});
}

TEST(IoRunWriter, BadAppendThrowsAndKeepsTheWriterUsable) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  RunWriter writer(path, full_layout());
  const std::vector<double> x(12, 1.0);
  const std::vector<double> degree(4, 1.0);
  try {
    writer.append(0.0, x.data(), {1.0}, {degree.data()});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "RunWriter::append: 1 scalar values for 2 scalar observables");
  }
  EXPECT_THROW(writer.append(0.0, x.data(), {1.0, 2.0}, {}), std::invalid_argument);
  EXPECT_THROW(writer.append(0.0, x.data(), {1.0, 2.0}, {nullptr}), std::invalid_argument);
  EXPECT_THROW(writer.append(0.0, nullptr, {1.0, 2.0}, {degree.data()}), std::invalid_argument);
  EXPECT_EQ(writer.frames(), 0u);
  writer.append(0.0, x.data(), {1.0, 2.0}, {degree.data()});
  writer.commit();
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  EXPECT_EQ(read_dataset(file, "t").dims, std::vector<hsize_t>{1});
}

TEST(IoRunWriter, UseAfterCommitIsALogicError) {
  ScratchDir dir;
  RunWriter writer(dir / "run.h5", full_layout());
  writer.commit();
  EXPECT_THROW(append_test_frame(writer, 0), std::logic_error);
  EXPECT_THROW(writer.commit(), std::logic_error);
  EXPECT_THROW(writer.set_attribute("a", 1.0), std::logic_error);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.h5"});
}

TEST(IoRunWriter, MovedWriterCommitsTheSameFile) {
  ScratchDir dir;
  RunWriter first(dir / "run.h5", full_layout());
  append_test_frame(first, 0);
  RunWriter second = std::move(first);
  append_test_frame(second, 1);
  EXPECT_EQ(second.frames(), 2u);
  second.commit();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.h5"});
}

TEST(IoRunWriter, FixedDatasetNamesAreChecked) {
  ScratchDir dir;
  RunWriter writer(dir / "run.h5", full_layout());
  const double value = 1.0;
  EXPECT_THROW(writer.write_dataset("energy", {}, &value), std::invalid_argument);
  EXPECT_THROW(writer.write_dataset("t", {}, &value), std::invalid_argument);
  EXPECT_THROW(writer.write_dataset("a/b", {}, &value), std::invalid_argument);
  EXPECT_THROW(writer.write_dataset("w", {2}, nullptr), std::invalid_argument);
  writer.write_dataset("w", {}, &value);
  EXPECT_THROW(writer.write_dataset("w", {}, &value), std::invalid_argument);
}

/// The InputError message for constructing a writer with `layout` at `path`.
std::string construction_error(const std::filesystem::path& path, const RunLayout& layout) {
  try {
    RunWriter writer(path, layout);
  } catch (const InputError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no InputError";
  return {};
}

TEST(IoRunWriter, InvalidObservableNames) {
  ScratchDir dir;
  const auto path = dir / "run.h5";
  EXPECT_EQ(construction_error(path, RunLayout{2, 2, true, {""}, {}}),
            "output.observables: an empty name is not allowed; allowed: non-empty names without "
            "'/'");
  EXPECT_EQ(construction_error(path, RunLayout{2, 2, true, {}, {"a/b"}}),
            "output.observables: 'a/b' contains '/', which HDF5 reads as a group separator; "
            "allowed: non-empty names without '/'");
  EXPECT_EQ(construction_error(path, RunLayout{2, 2, true, {"."}, {}}),
            "output.observables: '.' is not allowed: HDF5 reads it as the root group itself; "
            "allowed: non-empty names without '/'");
  EXPECT_EQ(construction_error(path, RunLayout{2, 2, true, {"t"}, {}}),
            "output.observables: 't' is reserved for the run file's /t dataset; choose another "
            "observable name");
  EXPECT_EQ(construction_error(path, RunLayout{2, 2, false, {}, {"x"}}),
            "output.observables: 'x' is reserved for the run file's /x dataset; choose another "
            "observable name");
  EXPECT_EQ(construction_error(path, RunLayout{2, 2, true, {"energy"}, {"energy"}}),
            "output.observables: 'energy' is listed twice");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(IoRunWriter, EmptyLayoutIsAProgrammingError) {
  ScratchDir dir;
  EXPECT_THROW(RunWriter(dir / "run.h5", RunLayout{0, 3, true, {}, {}}), std::invalid_argument);
  EXPECT_THROW(RunWriter(dir / "run.h5", RunLayout{3, 0, true, {}, {}}), std::invalid_argument);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(IoRunWriter, UncreatableDirectoryIsAnOutputError) {
  ScratchDir dir;
  testing::write_bytes(dir / "plain", "x");
  EXPECT_EQ(construction_error(dir / "plain/run.h5", full_layout()),
            "output: cannot create directory '" + (dir / "plain").string() + "': Not a directory");
}

TEST(IoRunWriter, DirectoryAsFinalPathIsAnOutputError) {
  ScratchDir dir;
  std::filesystem::create_directory(dir / "run.h5");
  EXPECT_EQ(construction_error(dir / "run.h5", full_layout()),
            "output: '" + (dir / "run.h5").string() + "' is a directory, not a file name");
}

TEST(IoRunWriter, UnwritableDirectoryIsAnOutputError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  ScratchDir dir;
  std::filesystem::create_directory(dir / "locked");
  std::filesystem::permissions(
      dir / "locked", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  EXPECT_EQ(
      construction_error(dir / "locked/run.h5", full_layout()),
      "output: cannot create file '" + (dir / "locked/run.h5").string() + "': Permission denied");
  std::filesystem::permissions(dir / "locked", std::filesystem::perms::owner_all);
}

}  // namespace
}  // namespace attnflow::io
