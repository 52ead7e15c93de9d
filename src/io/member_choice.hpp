#pragma once
// Choosing one array among the named arrays of a container file (.npz members, safetensors
// tensors, HDF5 datasets), with the same messages for every format.
#include <string>
#include <vector>

namespace attnflow::io::detail {

/// Which names to choose from, and the configuration keys problems are reported under.
struct MemberChoice {
  std::vector<std::string> names;  ///< the arrays the file holds, in file order
  std::string noun;                ///< "array", "tensor" or "dataset"
  std::string path_key;            ///< the key naming the file (e.g. "model.Q.path")
  std::string select_key;          ///< the key naming the array (e.g. "model.Q.array")
};

/// `wanted` if the file holds it; the only array if `wanted` is empty and there is exactly one.
/// Otherwise throws InputError listing the names the file holds.
std::string choose_member(const MemberChoice& choice, const std::string& wanted);

}  // namespace attnflow::io::detail
