#include "attnflow/head_tables.hpp"

#include <cmath>
#include <limits>

namespace attnflow {

void fill_queries(const Matrix& P, const Matrix& x, const std::vector<double>& positions,
                  QueryTable& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index k = P.rows();
  out.n = n;
  out.k = k;
  out.queries.resize(static_cast<std::size_t>(n * k));
  out.position.assign(positions.begin(), positions.end());
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index i = 0; i < n; ++i) {
    const double* xi = x.data() + i * d;
    double* qi = out.queries.data() + i * k;
    for (Index a = 0; a < k; ++a) {
      const double* pa = P.data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += pa[c] * xi[c];
      qi[a] = s;
    }
  }
}

void fill_keys(const Matrix& R, const Matrix* U, const Matrix& x,
               const std::vector<double>& weights, const std::vector<double>& positions,
               KeyTable& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index k = R.rows();
  const Index dv = U != nullptr ? U->rows() : 0;
  if (out.n != n || out.k != k || out.dv != dv) out.resize(n, k, dv);
#pragma omp parallel for schedule(static) if (n > kParallelTokens)
  for (Index j = 0; j < n; ++j) {
    const double* xj = x.data() + j * d;
    for (Index a = 0; a < k; ++a) {
      const double* ra = R.data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += ra[c] * xj[c];
      out.key_at(a, j) = s;
    }
    for (Index a = 0; a < dv; ++a) {
      const double* ua = U->data() + a * d;
      double s = 0.0;
      for (Index c = 0; c < d; ++c) s += ua[c] * xj[c];
      out.value_at(a, j) = s;
    }
    const double w = weights[static_cast<std::size_t>(j)];
    out.log_weight[static_cast<std::size_t>(j)] =
        w > 0.0 ? std::log(w) : -std::numeric_limits<double>::infinity();
    out.weight[static_cast<std::size_t>(j)] = w;
    out.position[static_cast<std::size_t>(j)] = positions[static_cast<std::size_t>(j)];
  }
}

}  // namespace attnflow
