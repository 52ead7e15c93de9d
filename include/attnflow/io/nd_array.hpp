#pragma once
// A dense array read from a weight or data file (.npy, .npz, HDF5, safetensors): every reader
// returns this, so the callers check shapes in one place whatever the format.
#include <cstddef>
#include <string>
#include <vector>

namespace attnflow::io {

/// `shape` (empty for a 0-d array) and the elements in C (row-major) order, always as double.
struct NdArray {
  /// Extent of each axis, outermost first.
  std::vector<std::size_t> shape;
  /// The product of `shape` elements, last axis fastest.
  std::vector<double> data;
};

/// "(3, 4)", "(5,)" or "()", as Python prints a shape tuple.
std::string shape_text(const std::vector<std::size_t>& shape);

}  // namespace attnflow::io
