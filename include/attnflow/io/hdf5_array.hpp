#pragma once
// A float64 or float32 dataset of an HDF5 file (.h5, .hdf5) as a weight array, read with the HDF5
// C library (Debian libhdf5-dev) that also writes the run files.
#include <filesystem>
#include <string>

#include "attnflow/io/nd_array.hpp"

namespace attnflow::io {

/// Reads dataset `dataset` (an absolute or root-relative path such as "/layers/Q") of the HDF5
/// file at `path`; an empty `dataset` selects the only dataset of a file that holds exactly one.
/// The dataset must have a floating-point type of 4 or 8 bytes (widened exactly to double).
/// Problems with the file or the dataset's type throw InputError(path_key, ...); a missing or
/// ambiguous dataset throws InputError(dataset_key, ...) listing the datasets in the file.
NdArray read_hdf5_array(const std::filesystem::path& path, const std::string& dataset,
                        const std::string& path_key, const std::string& dataset_key);

}  // namespace attnflow::io
