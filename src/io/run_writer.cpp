#include "attnflow/io/run_writer.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"

namespace attnflow::io {
namespace {

// HDF5 caps a chunk at 4 GiB, and chunks far above a few MiB defeat partial reads of one frame;
// a frame above this size is therefore split over tokens.
constexpr std::size_t kMaxChunkBytes = std::size_t{4} << 20;
// Target size for chunks holding several frames of a small per-frame dataset (/t, observables):
// big enough that the B-tree stays small, small enough that short runs stay small files.
constexpr std::size_t kSmallChunkBytes = std::size_t{32} << 10;
constexpr std::size_t kMaxFramesPerChunk = 256;
constexpr unsigned kGzipLevel = 4;

/// An HDF5 identifier closed by the matching H5?close on scope exit.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      closer_ = other.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes now and reports whether HDF5 succeeded (closing a file flushes it, which can fail).
  bool close() {
    const bool ok = !valid() || closer_(id_) >= 0;
    id_ = H5I_INVALID_HID;
    return ok;
  }
  void reset() { (void)close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

/// The first (API-level) and last (innermost) messages on HDF5's error stack, then clears it.
std::string hdf5_error_text() {
  struct Messages {
    std::string outer;
    std::string inner;
  } messages;
  const auto collect = [](unsigned, const H5E_error2_t* error, void* data) -> herr_t {
    auto* found = static_cast<Messages*>(data);
    const std::string text = error->desc != nullptr ? error->desc : "";
    if (found->outer.empty()) found->outer = text;
    found->inner = text;
    return 0;
  };
  (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &messages);
  (void)H5Eclear2(H5E_DEFAULT);
  if (messages.outer.empty()) return "unknown HDF5 error";
  if (messages.inner == messages.outer) return messages.outer;
  return messages.outer + ": " + messages.inner;
}

/// Why a name cannot be an HDF5 link directly under the root group, or "" if it can.
std::string name_problem(const std::string& name) {
  if (name.empty()) return "an empty name is not allowed";
  if (name.find('/') != std::string::npos) {
    return "'" + name + "' contains '/', which HDF5 reads as a group separator";
  }
  if (name == ".") return "'.' is not allowed: HDF5 reads it as the root group itself";
  return {};
}

}  // namespace

struct RunWriter::Impl {
  std::filesystem::path final_path;
  std::filesystem::path temp_path;
  RunLayout layout;
  std::size_t frames = 0;
  bool committed = false;
  // Set after a failed HDF5 call: the datasets may then disagree on T, so the file is unusable.
  bool broken = false;
  std::set<std::string> names;  // every link under the root, to refuse duplicates

  Handle file;
  Handle t;
  Handle x;
  std::vector<Handle> scalars;
  std::vector<Handle> tokens;

  ~Impl() {
    // Datasets before the file, so that H5Fclose really releases it before we delete it.
    scalars.clear();
    tokens.clear();
    t.reset();
    x.reset();
    file.reset();
    if (!committed && !temp_path.empty()) {
      std::error_code ignored;
      std::filesystem::remove(temp_path, ignored);
    }
  }

  [[noreturn]] void fail(const std::string& what) {
    broken = true;
    throw std::runtime_error("HDF5 error writing " + detail::quoted(final_path) + ": " + what +
                             ": " + hdf5_error_text());
  }

  template <typename Id>
  Id check(Id id, const std::string& what) {
    if (id < 0) fail(what);
    return id;
  }

  void require_open(const char* operation) const {
    if (committed) {
      throw std::logic_error(std::string("RunWriter::") + operation + " after commit()");
    }
    if (broken) {
      throw std::logic_error(std::string("RunWriter::") + operation +
                             " after an earlier HDF5 failure");
    }
  }

  void claim_name(const std::string& name) {
    if (const std::string problem = name_problem(name); !problem.empty()) {
      throw std::invalid_argument("dataset name: " + problem);
    }
    if (!names.insert(name).second) {
      throw std::invalid_argument("dataset name '" + name + "' is already used in the run file");
    }
  }

  void open() {
    if (layout.n == 0 || layout.d == 0) {
      throw std::invalid_argument("RunWriter: n and d must be at least 1");
    }
    names = {"t", "x"};
    for (const auto* list : {&layout.scalar_observables, &layout.token_observables}) {
      for (const std::string& name : *list) {
        if (const std::string problem = name_problem(name); !problem.empty()) {
          throw InputError("output.observables",
                           problem + "; allowed: non-empty names without '/'");
        }
        if (name == "t" || name == "x") {
          throw InputError("output.observables", "'" + name + "' is reserved for the run file's /" +
                                                     name +
                                                     " dataset; choose another observable name");
        }
        if (!names.insert(name).second) {
          throw InputError("output.observables", "'" + name + "' is listed twice");
        }
      }
    }

    // Our failures become exceptions with the stack's text; HDF5 printing it to stderr as well
    // would only confuse the user.
    (void)H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);

    ensure_parent_directory(final_path);
    std::error_code ignored;
    if (std::filesystem::is_directory(final_path, ignored)) {
      throw InputError("output", detail::quoted(final_path) + " is a directory, not a file name");
    }
    temp_path = temporary_sibling(final_path);
    // Created by us first: reserves the name exclusively and yields a plain errno message
    // ("Permission denied") that HDF5's error stack would bury.
    (void)::close(detail::create_exclusive(temp_path, final_path));

    // Reproducibility: HDF5 stores creation/modification times in every object header unless
    // told not to; the file creation list also covers the root group.
    Handle fcpl(check(H5Pcreate(H5P_FILE_CREATE), "file creation properties"), H5Pclose);
    check(H5Pset_obj_track_times(fcpl.get(), false), "file creation properties");
    Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "file access properties"), H5Pclose);
    check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "file access properties");
    const hid_t id = H5Fcreate(temp_path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
    if (id < 0) {
      throw InputError(
          "output", "cannot create file " + detail::quoted(final_path) + ": " + hdf5_error_text());
    }
    file = Handle(id, H5Fclose);

    const std::size_t n = layout.n;
    const std::size_t d = layout.d;
    t = create_series("t", {}, {frames_per_chunk(1)}, false);
    if (layout.trajectory) {
      // One frame per chunk, so reading frame k decompresses only frame k; beyond kMaxChunkBytes,
      // a frame is split into blocks of whole tokens (and of coordinates for absurdly large d).
      const std::size_t d_chunk = std::min(d, kMaxChunkBytes / sizeof(double));
      const std::size_t n_chunk =
          std::clamp<std::size_t>(kMaxChunkBytes / (d_chunk * sizeof(double)), 1, n);
      x = create_series("x", {n, d}, {1, n_chunk, d_chunk}, true);
    }
    for (const std::string& name : layout.scalar_observables) {
      scalars.push_back(create_series(name, {}, {frames_per_chunk(1)}, false));
    }
    const std::size_t n_chunk = std::min(n, kMaxChunkBytes / sizeof(double));
    for (const std::string& name : layout.token_observables) {
      tokens.push_back(create_series(name, {n}, {frames_per_chunk(n_chunk), n_chunk}, false));
    }
  }

  static std::size_t frames_per_chunk(std::size_t values_per_frame) {
    return std::clamp<std::size_t>(kSmallChunkBytes / (values_per_frame * sizeof(double)), 1,
                                   kMaxFramesPerChunk);
  }

  /// A float64 dataset of shape (0, frame_shape...) extendible without limit along the first axis.
  Handle create_series(const std::string& name, const std::vector<hsize_t>& frame_shape,
                       const std::vector<hsize_t>& chunk, bool compress) {
    const std::string what = "creating dataset /" + name;
    std::vector<hsize_t> dims{0};
    std::vector<hsize_t> max_dims{H5S_UNLIMITED};
    dims.insert(dims.end(), frame_shape.begin(), frame_shape.end());
    max_dims.insert(max_dims.end(), frame_shape.begin(), frame_shape.end());
    const int rank = static_cast<int>(dims.size());
    Handle space(check(H5Screate_simple(rank, dims.data(), max_dims.data()), what), H5Sclose);
    Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), what), H5Pclose);
    check(H5Pset_chunk(dcpl.get(), rank, chunk.data()), what);
    check(H5Pset_obj_track_times(dcpl.get(), false), what);
    // An explicit fill value: the unwritten tail of a partially filled chunk is then defined
    // bytes, not whatever the allocator returned, which reproducibility needs.
    const double zero = 0.0;
    check(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &zero), what);
    if (compress) {
      if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) fail(what + ": HDF5 lacks the gzip filter");
      // Shuffle groups the bytes of equal significance, which roughly doubles gzip's ratio on
      // floating-point coordinates.
      check(H5Pset_shuffle(dcpl.get()), what);
      check(H5Pset_deflate(dcpl.get(), kGzipLevel), what);
    }
    return Handle(check(H5Dcreate2(file.get(), name.c_str(), H5T_IEEE_F64LE, space.get(),
                                   H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                        what),
                  H5Dclose);
  }

  /// Grows `dataset` by one frame and writes `values` (one frame's worth) into it.
  void write_frame(const Handle& dataset, const std::string& name, const double* values) {
    const std::string what = "appending frame " + std::to_string(frames) + " to /" + name;
    Handle space(check(H5Dget_space(dataset.get()), what), H5Sclose);
    const int rank = check(H5Sget_simple_extent_ndims(space.get()), what);
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), what);
    dims[0] = frames + 1;
    check(H5Dset_extent(dataset.get(), dims.data()), what);

    space = Handle(check(H5Dget_space(dataset.get()), what), H5Sclose);
    std::vector<hsize_t> start(dims.size(), 0);
    std::vector<hsize_t> count = dims;
    start[0] = frames;
    count[0] = 1;
    check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                              nullptr),
          what);
    hsize_t values_per_frame = 1;
    for (std::size_t i = 1; i < count.size(); ++i) values_per_frame *= count[i];
    Handle memory(check(H5Screate_simple(1, &values_per_frame, nullptr), what), H5Sclose);
    check(
        H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, memory.get(), space.get(), H5P_DEFAULT, values),
        what);
  }

  void set_attribute(const std::string& name, hid_t file_type, hid_t memory_type,
                     const void* value) {
    require_open("set_attribute");
    if (name.empty()) throw std::invalid_argument("attribute name must not be empty");
    const std::string what = "setting attribute '" + name + "'";
    if (check(H5Aexists(file.get(), name.c_str()), what) > 0) {
      check(H5Adelete(file.get(), name.c_str()), what);
    }
    Handle space(check(H5Screate(H5S_SCALAR), what), H5Sclose);
    Handle attribute(check(H5Acreate2(file.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                      H5P_DEFAULT),
                           what),
                     H5Aclose);
    check(H5Awrite(attribute.get(), memory_type, value), what);
  }
};

RunWriter::RunWriter(std::filesystem::path final_path, RunLayout layout)
    : impl_(std::make_unique<Impl>()) {
  impl_->final_path = std::move(final_path);
  impl_->layout = std::move(layout);
  // If open() throws, impl_ is destroyed as a constructed member, deleting the temporary file.
  impl_->open();
}

RunWriter::RunWriter(RunWriter&&) noexcept = default;
RunWriter& RunWriter::operator=(RunWriter&&) noexcept = default;
RunWriter::~RunWriter() = default;

void RunWriter::append(double t, const double* x, const std::vector<double>& scalars,
                       const std::vector<const double*>& token_arrays) {
  Impl& w = *impl_;
  w.require_open("append");
  const RunLayout& layout = w.layout;
  // Validate everything before touching the file, so a bad call leaves the writer usable.
  if (layout.trajectory && x == nullptr) {
    throw std::invalid_argument("RunWriter::append: positions are null but the layout stores /x");
  }
  if (scalars.size() != layout.scalar_observables.size()) {
    throw std::invalid_argument(
        "RunWriter::append: " + std::to_string(scalars.size()) + " scalar values for " +
        std::to_string(layout.scalar_observables.size()) + " scalar observables");
  }
  if (token_arrays.size() != layout.token_observables.size()) {
    throw std::invalid_argument(
        "RunWriter::append: " + std::to_string(token_arrays.size()) + " token arrays for " +
        std::to_string(layout.token_observables.size()) + " token observables");
  }
  if (std::find(token_arrays.begin(), token_arrays.end(), nullptr) != token_arrays.end()) {
    throw std::invalid_argument("RunWriter::append: a token observable array is null");
  }

  w.write_frame(w.t, "t", &t);
  if (layout.trajectory) w.write_frame(w.x, "x", x);
  for (std::size_t i = 0; i < scalars.size(); ++i) {
    w.write_frame(w.scalars[i], layout.scalar_observables[i], &scalars[i]);
  }
  for (std::size_t i = 0; i < token_arrays.size(); ++i) {
    w.write_frame(w.tokens[i], layout.token_observables[i], token_arrays[i]);
  }
  ++w.frames;
}

void RunWriter::set_attribute(const std::string& name, const std::string& value) {
  impl_->require_open("set_attribute");
  // Variable-length UTF-8 so that h5py returns a str and long texts (a whole config) fit; the
  // text lives in the file's global heap, outside the 64 KiB attribute limit.
  Handle type(impl_->check(H5Tcopy(H5T_C_S1), "string type"), H5Tclose);
  impl_->check(H5Tset_size(type.get(), H5T_VARIABLE), "string type");
  impl_->check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type");
  const char* text = value.c_str();
  impl_->set_attribute(name, type.get(), type.get(), &text);
}

void RunWriter::set_attribute(const std::string& name, std::int64_t value) {
  impl_->set_attribute(name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void RunWriter::set_attribute(const std::string& name, double value) {
  impl_->set_attribute(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void RunWriter::write_dataset(const std::string& name, const std::vector<std::size_t>& shape,
                              const double* data) {
  Impl& w = *impl_;
  w.require_open("write_dataset");
  std::size_t count = 1;
  for (const std::size_t extent : shape) count *= extent;
  if (count > 0 && data == nullptr) {
    throw std::invalid_argument("RunWriter::write_dataset: data for '" + name + "' is null");
  }
  w.claim_name(name);
  const std::string what = "writing dataset /" + name;
  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(
      w.check(dims.empty() ? H5Screate(H5S_SCALAR)
                           : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
              what),
      H5Sclose);
  Handle dcpl(w.check(H5Pcreate(H5P_DATASET_CREATE), what), H5Pclose);
  w.check(H5Pset_obj_track_times(dcpl.get(), false), what);
  Handle dataset(w.check(H5Dcreate2(w.file.get(), name.c_str(), H5T_IEEE_F64LE, space.get(),
                                    H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                         what),
                 H5Dclose);
  if (count > 0) {
    w.check(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
  }
}

std::size_t RunWriter::frames() const {
  return impl_->frames;
}

void RunWriter::commit() {
  Impl& w = *impl_;
  w.require_open("commit");
  w.t.reset();
  w.x.reset();
  w.scalars.clear();
  w.tokens.clear();
  // H5Fclose writes the remaining cached chunks and metadata; its failure means a bad file.
  if (!w.file.close()) w.fail("closing the file");
  try {
    detail::sync_and_rename(w.temp_path, w.final_path);
  } catch (...) {
    w.broken = true;  // the temporary file is gone; a second commit() must not pretend otherwise
    throw;
  }
  w.committed = true;
}

}  // namespace attnflow::io
