#include "attnflow/analysis/spectra.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <functional>

#include "attnflow/attention_field.hpp"
#include "attnflow/dispatch.hpp"
#include "attnflow/error.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow::analysis {

SpectrumSummary summarize_spectrum(std::vector<double> eigenvalues, double rank_tol) {
  SpectrumSummary s;
  for (double& v : eigenvalues) v = std::max(v, 0.0);
  std::sort(eigenvalues.begin(), eigenvalues.end(), std::greater<>());
  s.eigenvalues = eigenvalues;
  for (double v : eigenvalues) s.trace += v;
  const double top = eigenvalues.empty() ? 0.0 : eigenvalues.front();
  if (s.trace > 0.0) {
    s.anisotropy = top / s.trace;
    double entropy = 0.0;
    for (double v : eigenvalues)
      if (v > 0.0) entropy -= (v / s.trace) * std::log(v / s.trace);
    s.effective_rank = std::exp(entropy);
  }
  if (top > 0.0) {
    s.stable_rank = s.trace / top;
    for (double v : eigenvalues)
      if (v > rank_tol * top) ++s.numerical_rank;
  }
  return s;
}

GramSpectra gram_spectra(const Measure& measure, double rank_tol) {
  const Index d = measure.d();
  double total = 0.0;
  for (double w : measure.weights) total += w;
  Eigen::MatrixXd second = Eigen::MatrixXd::Zero(d, d);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
  for (Index i = 0; i < measure.n(); ++i) {
    const double w = measure.weights[static_cast<std::size_t>(i)] / total;
    const Eigen::VectorXd xi = measure.x.row(i).transpose();
    second += w * xi * xi.transpose();
    mean += w * xi;
  }
  const Eigen::MatrixXd cov = second - mean * mean.transpose();
  auto eig = [](const Eigen::MatrixXd& m) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (m + m.transpose()),
                                                      Eigen::EigenvaluesOnly);
    return std::vector<double>(es.eigenvalues().data(),
                               es.eigenvalues().data() + es.eigenvalues().size());
  };
  return {summarize_spectrum(eig(second), rank_tol), summarize_spectrum(eig(cov), rank_tol)};
}

Matrix attention_matrix(const Model& model, const Measure& measure, std::size_t head) {
  if (model.kernel == KernelKind::sinkhorn)
    throw InputError("spectra", "the attention matrix of the sinkhorn kernel is not available");
  if (head >= model.heads.size())
    throw InputError("spectra", "head " + std::to_string(head) + " does not exist");
  const Index n = measure.n();
  const Head& h = model.heads[head];
  QueryTable q;
  KeyTable k;
  fill_queries(h.Q, measure.x, measure.positions, q);
  fill_keys(h.K, nullptr, measure.x, measure.weights, measure.positions, k);
  // One-hot values u_j = e_j (N features): the engine's output row i is then (a_i1, ..., a_iN).
  k.reset_values(n);
  for (Index j = 0; j < n; ++j) k.value_at(j, j) = 1.0;
  KernelSettings settings;
  settings.kind = model.kernel;
  settings.causal = model.causal;
  settings.beta = model.beta;
  // The field's own resolution of the sigmoid bias (NaN → −log N).
  settings.sigmoid_bias = AttentionField(model, measure.weights, measure.positions).sigmoid_bias();
  Matrix a(n, n);
  attend(settings, q, k, AttentionOutput{a.data(), nullptr});
  return a;
}

AttentionSpectrum attention_spectrum(const Matrix& a, double rank_tol, double leader_threshold) {
  AttentionSpectrum s;
  const Eigen::MatrixXd dense = a;
  Eigen::BDCSVD<Eigen::MatrixXd> svd(dense);
  const Eigen::VectorXd sv = svd.singularValues();
  s.singular_values.assign(sv.data(), sv.data() + sv.size());
  const double top = s.singular_values.empty() ? 0.0 : s.singular_values.front();
  for (double v : s.singular_values)
    if (v > rank_tol * top) ++s.numerical_rank;
  s.column_mass.assign(static_cast<std::size_t>(a.cols()), 0.0);
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j) s.column_mass[static_cast<std::size_t>(j)] += a(i, j);
  for (Index j = 0; j < a.cols(); ++j)
    if (s.column_mass[static_cast<std::size_t>(j)] >= leader_threshold) s.leaders.push_back(j);
  return s;
}

}  // namespace attnflow::analysis
