#include "attnflow/io/run_reader.hpp"

#include <hdf5.h>

#include <cmath>
#include <limits>
#include <utility>

#include "attnflow/error.hpp"

namespace attnflow::io {

namespace {

/// An HDF5 identifier closed on scope exit.
class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_ != nullptr) (void)closer_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

/// "major.minor" of "major.minor.patch".
std::string major_minor(const std::string& version) {
  const auto first = version.find('.');
  if (first == std::string::npos) return version;
  const auto second = version.find('.', first + 1);
  return second == std::string::npos ? version : version.substr(0, second);
}

}  // namespace

std::string format_version(const std::string& version) {
  return major_minor(version);
}

struct RunReader::Impl {
  std::string key;
  Id file;
  std::string version, config;
  std::vector<double> t, weights, positions;
  bool trajectory = false;
  Index n = 0, d = 0;

  [[noreturn]] void fail(const std::string& what) const { throw InputError(key, what); }

  bool exists(const std::string& name) const {
    return H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) > 0;
  }

  /// A string attribute of the root group ("" if absent when optional).
  std::string string_attribute(const char* name, bool required) const {
    if (H5Aexists(file.get(), name) <= 0) {
      if (required) fail(std::string("is not an attnflow run file (no '") + name + "' attribute)");
      return {};
    }
    Id attr(H5Aopen(file.get(), name, H5P_DEFAULT), H5Aclose);
    Id type(H5Aget_type(attr.get()), H5Tclose);
    if (!attr.valid() || !type.valid() || H5Tget_class(type.get()) != H5T_STRING)
      fail(std::string("attribute '") + name + "' is not a string");
    if (H5Tis_variable_str(type.get()) > 0) {
      Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      char* text = nullptr;
      if (H5Aread(attr.get(), mem.get(), &text) < 0)
        fail(std::string("cannot read attribute '") + name + "'");
      std::string out = text != nullptr ? text : "";
      H5free_memory(text);
      return out;
    }
    const std::size_t size = H5Tget_size(type.get());
    std::string out(size, '\0');
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), size);
    if (H5Aread(attr.get(), mem.get(), out.data()) < 0)
      fail(std::string("cannot read attribute '") + name + "'");
    out.resize(out.find('\0') == std::string::npos ? size : out.find('\0'));
    return out;
  }

  /// Shape of dataset /name; fails if missing.
  std::vector<hsize_t> shape(const std::string& name, const std::string& hint) const {
    if (!exists(name)) fail("has no dataset /" + name + hint);
    Id set(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!set.valid()) fail("cannot open dataset /" + name);
    Id space(H5Dget_space(set.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail("cannot read the shape of dataset /" + name);
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return dims;
  }

  /// The whole of dataset /name as doubles.
  std::vector<double> read_all(const std::string& name, const std::string& hint = "") const {
    const std::vector<hsize_t> dims = shape(name, hint);
    hsize_t count = 1;
    for (hsize_t e : dims) count *= e;
    std::vector<double> out(static_cast<std::size_t>(count));
    Id set(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (count > 0 &&
        H5Dread(set.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      fail("cannot read dataset /" + name + " as numbers");
    return out;
  }

  std::string shape_text(const std::vector<hsize_t>& dims) const {
    std::string s = "(";
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (i > 0) s += ", ";
      s += std::to_string(dims[i]);
    }
    s += ")";
    return s;
  }
};

RunReader::RunReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.key = path.string();
  (void)H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) r.fail("file not found");
  if (std::filesystem::is_directory(path, ec)) r.fail("is a directory, not a run file");
  if (H5Fis_hdf5(path.c_str()) <= 0) r.fail("is not an HDF5 file");
  r.file = Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!r.file.valid()) r.fail("cannot open the HDF5 file");
  r.version = r.string_attribute("version", true);
  if (major_minor(r.version) != major_minor(ATTNFLOW_VERSION))
    r.fail("written by attnflow " + r.version + "; this is attnflow " + ATTNFLOW_VERSION +
           ", which reads run files of version " + major_minor(ATTNFLOW_VERSION) + ".x only");
  r.config = r.string_attribute("config", false);
  const std::vector<hsize_t> t_shape = r.shape("t", "");
  if (t_shape.size() != 1) r.fail("dataset /t must be 1-D, got shape " + r.shape_text(t_shape));
  r.t = r.read_all("t");
  r.weights = r.read_all("weights");
  r.positions = r.read_all("positions");
  if (r.positions.size() != r.weights.size())
    r.fail("/weights and /positions have different lengths (" + std::to_string(r.weights.size()) +
           " and " + std::to_string(r.positions.size()) + ")");
  r.n = static_cast<Index>(r.weights.size());
  if (r.exists("x")) {
    const std::vector<hsize_t> x_shape = r.shape("x", "");
    if (x_shape.size() != 3 || x_shape[0] != r.t.size() || x_shape[1] != r.weights.size())
      r.fail("dataset /x has shape " + r.shape_text(x_shape) + "; expected (T, n, d) = (" +
             std::to_string(r.t.size()) + ", " + std::to_string(r.weights.size()) + ", d)");
    r.trajectory = true;
    r.d = static_cast<Index>(x_shape[2]);
  }
}

RunReader::RunReader(RunReader&&) noexcept = default;
RunReader& RunReader::operator=(RunReader&&) noexcept = default;
RunReader::~RunReader() = default;

const std::string& RunReader::key() const {
  return impl_->key;
}
const std::string& RunReader::version() const {
  return impl_->version;
}
const std::string& RunReader::config_text() const {
  return impl_->config;
}
const std::vector<double>& RunReader::times() const {
  return impl_->t;
}
Index RunReader::n() const {
  return impl_->n;
}
Index RunReader::d() const {
  return impl_->d;
}
bool RunReader::has_trajectory() const {
  return impl_->trajectory;
}
const std::vector<double>& RunReader::weights() const {
  return impl_->weights;
}
const std::vector<double>& RunReader::positions() const {
  return impl_->positions;
}

Matrix RunReader::frame(std::size_t k) const {
  const Impl& r = *impl_;
  if (!r.trajectory) r.fail("has no dataset /x (written with output.trajectory = false?)");
  if (k >= r.t.size())
    r.fail("has no frame " + std::to_string(k) + " (" + std::to_string(r.t.size()) + " frames)");
  Id set(H5Dopen2(r.file.get(), "x", H5P_DEFAULT), H5Dclose);
  Id space(H5Dget_space(set.get()), H5Sclose);
  const hsize_t start[3] = {k, 0, 0};
  const hsize_t count[3] = {1, static_cast<hsize_t>(r.n), static_cast<hsize_t>(r.d)};
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  const hsize_t values = count[1] * count[2];
  Id memory(H5Screate_simple(1, &values, nullptr), H5Sclose);
  Matrix x(r.n, r.d);
  if (H5Dread(set.get(), H5T_NATIVE_DOUBLE, memory.get(), space.get(), H5P_DEFAULT, x.data()) < 0)
    r.fail("cannot read frame " + std::to_string(k) + " of dataset /x");
  return x;
}

Measure RunReader::measure(std::size_t k) const {
  return Measure{frame(k), impl_->weights, impl_->positions};
}

bool RunReader::has_series(const std::string& name) const {
  if (!impl_->exists(name)) return false;
  const std::vector<hsize_t> dims = impl_->shape(name, "");
  return dims.size() == 1 && dims[0] == impl_->t.size();
}

std::vector<double> RunReader::series(const std::string& name) const {
  const std::vector<hsize_t> dims = impl_->shape(name, "");
  if (dims.size() != 1 || dims[0] != impl_->t.size())
    impl_->fail("dataset /" + name + " has shape " + impl_->shape_text(dims) + "; expected (" +
                std::to_string(impl_->t.size()) + ")");
  return impl_->read_all(name);
}

RunConfig RunReader::config() const {
  if (impl_->config.empty()) impl_->fail("has no 'config' attribute: its model is unknown");
  try {
    // Relative paths in the configuration (e.g. weight files) are taken next to the run file.
    return parse_config(impl_->config, {"init.kind=\"uniform_sphere\""},
                        std::filesystem::path(impl_->key).parent_path());
  } catch (const InputError& e) {
    throw InputError(impl_->key, std::string("its 'config' attribute does not parse: ") + e.what());
  }
}

}  // namespace attnflow::io
