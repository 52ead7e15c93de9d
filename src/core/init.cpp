#include "attnflow/init.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <string>

#include "attnflow/error.hpp"
#include "attnflow/rng.hpp"

namespace attnflow {

Matrix sample_uniform_sphere(Index n, Index d, std::uint64_t seed) {
  Rng rng(seed);
  Matrix x(n, d);
  for (Index i = 0; i < n; ++i) {
    double norm = 0.0;
    do {  // a zero vector has probability 0, but never divide by it
      for (Index c = 0; c < d; ++c) x(i, c) = rng.normal();
      norm = x.row(i).norm();
    } while (norm == 0.0);
    x.row(i) /= norm;
  }
  return x;
}

Matrix sample_gaussian(Index n, const Vector& mean, const Matrix& cov, std::uint64_t seed) {
  const Index d = mean.size();
  if (cov.rows() != d || cov.cols() != d)
    throw InputError("init.cov", "must be " + std::to_string(d) + "x" + std::to_string(d) +
                                     " (the length of init.mean), got " +
                                     std::to_string(cov.rows()) + "x" + std::to_string(cov.cols()));
  if (!cov.allFinite()) throw InputError("init.cov", "all entries must be finite numbers");
  const double scale = std::max(1.0, cov.cwiseAbs().maxCoeff());
  if ((cov - cov.transpose()).cwiseAbs().maxCoeff() > 1e-12 * scale)
    throw InputError("init.cov", "must be symmetric");
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  if (eig.eigenvalues().minCoeff() < -1e-12 * scale)
    throw InputError("init.cov", "must be positive semi-definite, smallest eigenvalue is " +
                                     format_number(eig.eigenvalues().minCoeff()));
  // cov = L Lᵀ with L = U diag(√λ₊).
  const Eigen::MatrixXd L =
      eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
  Rng rng(seed);
  Matrix x(n, d);
  Vector z(d);
  for (Index i = 0; i < n; ++i) {
    for (Index c = 0; c < d; ++c) z(c) = rng.normal();
    x.row(i) = (mean + L * z).transpose();
  }
  return x;
}

Matrix equiangular_points(Index n, Index d, double rho) {
  if (n < 2) throw InputError("init.n", "equiangular tokens need n >= 2, got " + std::to_string(n));
  if (d < n)
    throw InputError("init.d", "equiangular tokens need d >= n (n = " + std::to_string(n) +
                                   "), got d = " + std::to_string(d));
  const double nn = static_cast<double>(n);
  const double lower = -1.0 / (nn - 1.0);
  if (!std::isfinite(rho) || rho < lower || rho > 1.0)
    throw InputError("init.rho", "must lie in [-1/(n-1), 1] = [" + format_number(lower) +
                                     ", 1], got " + format_number(rho));
  const double a = std::sqrt(1.0 - rho);
  const double b = -a / std::sqrt(nn) + std::sqrt(std::max(0.0, a * a / nn + rho));
  Matrix x = Matrix::Zero(n, d);
  for (Index i = 0; i < n; ++i) {
    for (Index c = 0; c < n; ++c) x(i, c) = b / std::sqrt(nn);
    x(i, i) += a;
    x.row(i) /= x.row(i).norm();  // exact already; removes rounding in |x_i|
  }
  return x;
}

}  // namespace attnflow
