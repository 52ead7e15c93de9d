#include "attnflow/analysis/stationary.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>

#include "attnflow/dispatch.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/error.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow::analysis {

Matrix interaction_matrix(const Model& model, const std::string& key) {
  if (model.heads.size() != 1)
    throw InputError(key, "the [B] analysis needs a model with one head, got " +
                              std::to_string(model.heads.size()));
  const Head& h = model.heads.front();
  const Matrix D = model.beta * h.Q.transpose() * h.K;
  if ((D - D.transpose()).norm() > 1e-12 * D.norm())
    throw InputError(key, "the [B] analysis needs D = beta Q^T K symmetric; |D - D^T| = " +
                              format_number((D - D.transpose()).norm()));
  return D;
}

StationarityResidual stationarity_residual(const Matrix& D, const Measure& measure) {
  const Index n = measure.n();
  const Index d = measure.d();
  const Matrix identity = Matrix::Identity(d, d);
  QueryTable q;
  KeyTable k;
  // Scores ⟨x_i, D x_j⟩ = 1·⟨I x_i, D x_j⟩, values D x_j: out_i = Σ_j w_j e^{⟨x_i, D x_j⟩} D x_j.
  fill_queries(identity, measure.x, measure.positions, q);
  fill_keys(D, &D, measure.x, measure.weights, measure.positions, k);
  Matrix grad(n, d);
  std::vector<double> log_z(static_cast<std::size_t>(n));
  attend_unnormalized(false, 1.0, q, k, AttentionOutput{grad.data(), log_z.data()});
  StationarityResidual r;
  for (Index i = 0; i < n; ++i) {
    if (!(measure.weights[static_cast<std::size_t>(i)] > 0.0)) continue;
    const auto xi = measure.x.row(i);
    const Eigen::RowVectorXd tangent = grad.row(i) - grad.row(i).dot(xi) * xi;
    const double norm = tangent.norm();
    if (norm > r.residual) {
      r.residual = norm;
      r.worst_token = i;
    }
    r.normalized_residual =
        std::max(r.normalized_residual, norm * std::exp(-log_z[static_cast<std::size_t>(i)]));
  }
  return r;
}

double energy_b(const Matrix& D, const Measure& measure) {
  Model m;
  m.beta = 1.0;
  m.heads.push_back(Head{Matrix::Identity(D.rows(), D.cols()), D,
                         Matrix::Identity(D.rows(), D.cols()), Matrix()});
  return interaction_energy_b(m, measure).value;
}

std::vector<Candidate> stationary_candidates(const Matrix& D, const Measure& measure,
                                             double kernel_tol) {
  const Eigen::MatrixXd sym = 0.5 * (Eigen::MatrixXd(D) + Eigen::MatrixXd(D).transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sym);
  const Eigen::VectorXd lambda = es.eigenvalues();
  const Eigen::MatrixXd vectors = es.eigenvectors();
  const double scale = lambda.cwiseAbs().maxCoeff();
  const Index n = measure.n();
  std::vector<Candidate> out;
  for (Index k = 0; k < lambda.size(); ++k) {
    const Vector v = vectors.col(k);
    // Dirac at ±v: W2² = Σ w_i |x_i ∓ v|² = 2 − 2 s ⟨m, v⟩ on the sphere, m = Σ w_i x_i; the sign s
    // is the closer one. Computed directly (not through the sphere identity).
    double plus = 0.0, minus = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double w = measure.weights[static_cast<std::size_t>(i)];
      plus += w * (measure.x.row(i).transpose() - v).squaredNorm();
      minus += w * (measure.x.row(i).transpose() + v).squaredNorm();
    }
    Candidate dirac;
    dirac.kind = "dirac";
    dirac.eigen_index = k;
    dirac.eigenvalue = lambda(k);
    dirac.energy = 0.5 * std::exp(lambda(k));
    dirac.w2 = std::sqrt(std::min(plus, minus));
    dirac.direction = plus <= minus ? v : Vector(-v);
    out.push_back(dirac);

    // Antipodal pairs p δ_v + (1 − p) δ_{−v} are stationary for every p ∈ [0, 1]; the member
    // nearest to the state sends each token to the nearer of ±v (p = the mass sent to +v), so
    // W2² = Σ w_i min(|x_i − v|², |x_i + v|²) and E = ½[(p² + (1 − p)²) e^λ + 2p(1 − p) e^{−λ}].
    double nearest = 0.0, p = 0.0, total = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double w = measure.weights[static_cast<std::size_t>(i)];
      const double to_plus = (measure.x.row(i).transpose() - v).squaredNorm();
      const double to_minus = (measure.x.row(i).transpose() + v).squaredNorm();
      nearest += w * std::min(to_plus, to_minus);
      if (to_plus <= to_minus) p += w;
      total += w;
    }
    p /= total;
    Candidate antipodal;
    antipodal.kind = "antipodal";
    antipodal.eigen_index = k;
    antipodal.eigenvalue = lambda(k);
    antipodal.mass_plus = p;
    antipodal.energy = 0.5 * ((p * p + (1.0 - p) * (1.0 - p)) * std::exp(lambda(k)) +
                              2.0 * p * (1.0 - p) * std::exp(-lambda(k)));
    antipodal.w2 = std::sqrt(nearest);
    antipodal.direction = v;
    out.push_back(antipodal);
  }
  // The kernel of D, if any.
  std::vector<Index> kernel;
  for (Index k = 0; k < lambda.size(); ++k)
    if (std::fabs(lambda(k)) <= kernel_tol * scale || scale == 0.0) kernel.push_back(k);
  if (!kernel.empty()) {
    Eigen::MatrixXd basis(lambda.size(), static_cast<Index>(kernel.size()));
    for (std::size_t c = 0; c < kernel.size(); ++c)
      basis.col(static_cast<Index>(c)) = vectors.col(kernel[c]);
    double sq = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double proj = (basis.transpose() * measure.x.row(i).transpose()).norm();
      // |x − y|² = |x|² + 1 − 2⟨x, y⟩ with y = P x/|P x| the nearest unit kernel vector.
      sq += measure.weights[static_cast<std::size_t>(i)] *
            std::max(0.0, measure.x.row(i).squaredNorm() + 1.0 - 2.0 * proj);
    }
    Candidate c;
    c.kind = "kernel";
    c.energy = 0.5;
    c.w2 = std::sqrt(sq);
    out.push_back(c);
  }
  return out;
}

}  // namespace attnflow::analysis
