#pragma once
// NumPy .npz archives (numpy.savez, numpy.savez_compressed): a zip file of .npy members, stored or
// deflated. Read with libzip (Debian libzip-dev).
#include <filesystem>
#include <string>

#include "attnflow/io/nd_array.hpp"

namespace attnflow::io {

/// Reads the member `name` of the .npz archive at `path` (numpy's key: "Q" for the member
/// "Q.npy"); an empty `name` selects the only member of a one-member archive. The member must be a
/// float64 or float32 .npy array (as read_npy). Problems with the file throw InputError(path_key,
/// ...); a missing or ambiguous member throws InputError(name_key, ...) listing the members.
NdArray read_npz(const std::filesystem::path& path, const std::string& name,
                 const std::string& path_key, const std::string& name_key);

}  // namespace attnflow::io
