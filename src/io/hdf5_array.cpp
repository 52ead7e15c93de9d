#include "attnflow/io/hdf5_array.hpp"

#include <hdf5.h>

#include <limits>
#include <utility>
#include <vector>

#include "atomic_output.hpp"
#include "attnflow/error.hpp"
#include "member_choice.hpp"
#include "regular_file.hpp"

namespace attnflow::io {

namespace {

/// An HDF5 identifier closed on scope exit.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) (void)closer_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer closer_;
};

/// Collects the absolute paths of every dataset below the root group.
herr_t collect_dataset(hid_t group, const char* name, const H5L_info_t* /*info*/, void* out) {
  const hid_t object = H5Oopen(group, name, H5P_DEFAULT);
  if (object < 0) return 0;  // dangling or external link: not a dataset we could read
  if (H5Iget_type(object) == H5I_DATASET) {
    std::string path = "/";  // appended, not "/" + name: GCC 12 warns falsely (-Wrestrict)
    path += name;
    static_cast<std::vector<std::string>*>(out)->push_back(std::move(path));
  }
  (void)H5Oclose(object);
  return 0;
}

/// "/a/b" for "a/b" or "/a/b".
std::string absolute(const std::string& dataset) {
  if (dataset.empty() || dataset.front() == '/') return dataset;
  std::string path = "/";
  path += dataset;
  return path;
}

// Weight files this large (8 GiB of doubles) cannot be meant for this simulator; the limit keeps
// a corrupt extent from asking for absurd allocations.
constexpr hsize_t kMaxElements = hsize_t{1} << 30;

}  // namespace

NdArray read_hdf5_array(const std::filesystem::path& path, const std::string& dataset,
                        const std::string& path_key, const std::string& dataset_key) {
  (void)detail::regular_file_size(path, path_key, "an HDF5 file");
  (void)H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw InputError(path_key, detail::quoted(path) + " is not an HDF5 file");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid())
    throw InputError(
        path_key, "cannot open the HDF5 file " + detail::quoted(path) + " (truncated or corrupt)");
  std::vector<std::string> names;
  if (H5Lvisit(file.get(), H5_INDEX_NAME, H5_ITER_NATIVE, collect_dataset, &names) < 0)
    throw InputError(path_key, "cannot list the datasets of " + detail::quoted(path) +
                                   " (truncated or corrupt)");
  const std::string name =
      detail::choose_member({names, "dataset", path_key, dataset_key}, absolute(dataset));
  const auto fail = [&](const std::string& what) {
    return InputError(path_key, "dataset '" + name + "' " + what);
  };

  Handle set(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!set.valid()) throw fail("cannot be opened (truncated or corrupt file)");
  Handle type(H5Dget_type(set.get()), H5Tclose);
  const H5T_class_t type_class = type.valid() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  const std::size_t type_size = type.valid() ? H5Tget_size(type.get()) : 0;
  if (type_class != H5T_FLOAT || (type_size != 4 && type_size != 8)) {
    const std::string what = type_class == H5T_INTEGER ? "an integer"
                             : type_class == H5T_FLOAT
                                 ? std::to_string(8 * type_size) + "-bit float"
                             : type_class == H5T_COMPOUND ? "a compound (e.g. complex)"
                             : type_class == H5T_STRING   ? "a string"
                                                          : "a non-numeric";
    throw fail("has " + what + " type; allowed: float64 or float32");
  }
  Handle space(H5Dget_space(set.get()), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0) throw fail("has no readable shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) (void)H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  NdArray array;
  hsize_t count = 1;
  for (const hsize_t extent : dims) {
    array.shape.push_back(static_cast<std::size_t>(extent));
    if (extent != 0 && count > kMaxElements / extent) throw fail("is too large");
    count *= extent;
  }
  array.data.resize(static_cast<std::size_t>(count));
  if (count > 0 &&
      H5Dread(set.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.data.data()) < 0)
    throw fail("cannot be read (truncated or corrupt file)");
  return array;
}

}  // namespace attnflow::io
