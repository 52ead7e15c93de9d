#pragma once
// Dense linear-algebra types shared by every module. Token arrays are row-major N×d, as in NumPy.
#include <Eigen/Core>
#include <cstddef>

namespace attnflow {

/// Row-major dense matrix of doubles (N×d token arrays, k×d weight matrices).
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Dense column vector of doubles.
using Vector = Eigen::VectorXd;
/// Index type for token counts and dimensions.
using Index = Eigen::Index;

}  // namespace attnflow
