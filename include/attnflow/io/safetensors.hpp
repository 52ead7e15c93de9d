#pragma once
// safetensors files (Hugging Face): an 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then the tensors' little-endian bytes.
#include <cstdint>
#include <filesystem>
#include <string>

#include "attnflow/io/nd_array.hpp"

namespace attnflow::io {

/// Reads tensor `name` of the .safetensors file at `path`; an empty `name` selects the only tensor
/// of a file that holds exactly one. Allowed dtypes: F64, F32, F16, BF16, all converted exactly to
/// double. The header is validated completely against the file size (offsets inside the data
/// section, byte counts equal to shape × dtype size): problems with the file throw
/// InputError(path_key, ...), a missing or ambiguous tensor InputError(name_key, ...).
NdArray read_safetensors(const std::filesystem::path& path, const std::string& name,
                         const std::string& path_key, const std::string& name_key);

/// The IEEE binary16 value with bits `bits`, exactly (subnormals, infinities and NaN included).
double half_to_double(std::uint16_t bits);

/// The bfloat16 value with bits `bits` (the upper half of a binary32), exactly.
double bfloat16_to_double(std::uint16_t bits);

}  // namespace attnflow::io
