#include "attnflow/reduce/gaussian.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <cmath>
#include <string>

#include "attnflow/error.hpp"
#include "attnflow/kernel_registry.hpp"

namespace attnflow::reduce {

namespace {

using Dense = Eigen::MatrixXd;

/// Σ^{1/2} of a symmetric PSD matrix (negative rounding-level eigenvalues clamped to 0).
Dense sqrt_psd(const Dense& s) {
  const Eigen::SelfAdjointEigenSolver<Dense> eig(0.5 * (s + s.transpose()));
  return eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() *
         eig.eigenvectors().transpose();
}

/// C_h = W_h V_h (V_h when W_h is empty): the value-output map of one head.
Dense value_map(const Head& head) {
  if (head.W.size() == 0) return head.V;
  return head.W * head.V;
}

}  // namespace

void validate_gaussian_model(const Model& model, const std::string& prefix) {
  if (model.geometry != Geometry::euclidean)
    throw InputError(prefix + ".geometry",
                     "Gaussian solutions exist in R^d only ([C]); set geometry = \"euclidean\"");
  if (effective_normalization(model) != Normalization::none)
    throw InputError(prefix + ".normalization",
                     "Gaussian solutions are those of the Transformer PDE in R^d "
                     "without normalisation ([C]); set normalization = \"none\"");
  if (model.noise != 0.0)
    throw InputError(prefix + ".noise",
                     "the Gaussian reduction solves the deterministic Transformer PDE "
                     "([C]); set noise = 0");
  if (model.causal)
    throw InputError(prefix + ".causal",
                     "masked attention does not preserve Gaussians ([C]); use causal = false");
  switch (model.kernel) {
    case KernelKind::softmax:
    case KernelKind::l2:
    case KernelKind::sinkhorn:
      return;
    case KernelKind::usa:
    case KernelKind::sigmoid:
    case KernelKind::hardmax:
      break;
  }
  throw InputError(prefix + ".kernel",
                   "'" + std::string(kernel_info(model.kernel).name) +
                       "' attention does not preserve Gaussians ([C]); allowed: "
                       "softmax, l2, sinkhorn");
}

AffineField gaussian_field(const Model& model, const Vector& mean, const Matrix& cov) {
  const Index d = mean.size();
  const Dense sigma = cov;
  const Dense identity = Dense::Identity(d, d);
  AffineField field{Vector::Zero(d), Matrix::Zero(d, d)};
  Dense sigma_half;  // Σ^{1/2}, computed once for all Sinkhorn heads
  if (model.kernel == KernelKind::sinkhorn) sigma_half = sqrt_psd(sigma);
  for (const Head& head : model.heads) {
    const Dense c = value_map(head);
    const Dense qmat = head.Q, kmat = head.K;
    Vector p;
    Dense r;
    switch (model.kernel) {
      case KernelKind::l2: {  // docs G3: precision Σ⁻¹ + 2βKᵀK of the tilted Gaussian
        const Eigen::PartialPivLU<Dense> lu(identity +
                                            2.0 * model.beta * sigma * kmat.transpose() * kmat);
        p = lu.solve(mean);
        r = lu.solve((2.0 * model.beta) * sigma * kmat.transpose() * qmat);
        break;
      }
      case KernelKind::sinkhorn: {  // docs G4: entropic self-coupling of N(m, Σ), ε = 1/β
        const Dense a = model.beta * kmat.transpose() * qmat;
        const Dense g = sigma_half * a * sigma_half;
        const Eigen::SelfAdjointEigenSolver<Dense> eig(g * g.transpose());
        Vector h(d);
        for (Index k = 0; k < d; ++k) {
          const double lambda = std::max(0.0, eig.eigenvalues()(k));
          h(k) = 2.0 / (1.0 + std::sqrt(1.0 + 4.0 * lambda));
        }
        const Dense hmat = eig.eigenvectors() * h.asDiagonal() * eig.eigenvectors().transpose();
        r = sigma_half * hmat * sigma_half * a;
        p = mean - r * mean;
        break;
      }
      default: {  // softmax, docs G2: the tilted Gaussian N(m + ΣAx, Σ)
        r = sigma * (model.beta * kmat.transpose() * qmat);
        p = mean;
        break;
      }
    }
    field.b += c * p;
    field.M += c * r;
  }
  return field;
}

void validate_covariance(const Matrix& cov, Index d, const std::string& key) {
  if (cov.rows() != d || cov.cols() != d)
    throw InputError(key, "must be " + std::to_string(d) + "x" + std::to_string(d) +
                              " (d = " + std::to_string(d) + "), got " +
                              std::to_string(cov.rows()) + "x" + std::to_string(cov.cols()));
  if (!cov.allFinite()) throw InputError(key, "all entries must be finite numbers");
  const double scale = std::max(1.0, cov.cwiseAbs().maxCoeff());
  const double asym = (cov - cov.transpose()).cwiseAbs().maxCoeff();
  if (asym > 1e-12 * scale)
    throw InputError(key, "must be symmetric, got |S - S^T| = " + format_number(asym) +
                              " (a covariance is a symmetric positive semi-definite matrix)");
  const Eigen::SelfAdjointEigenSolver<Dense> eig{Dense(cov)};
  const double smallest = eig.eigenvalues().minCoeff();
  if (smallest < -1e-12 * scale)
    throw InputError(
        key, "must be positive semi-definite, smallest eigenvalue is " + format_number(smallest));
}

Matrix gaussian_state(const Vector& mean, const Matrix& cov) {
  const Index d = mean.size();
  const Eigen::SelfAdjointEigenSolver<Dense> eig(Dense(0.5 * (cov + cov.transpose())));
  Matrix state(d, d + 1);
  state.col(0) = mean;
  state.rightCols(d) =
      eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
  return state;
}

Vector state_mean(const Matrix& state) {
  return state.col(0);
}

Matrix state_cov(const Matrix& state) {
  const Index d = state.rows();
  const Matrix l = state.rightCols(d);
  Matrix s = l * l.transpose();
  return 0.5 * (s + s.transpose());  // exact symmetry (the product is symmetric up to rounding)
}

GaussianFlow::GaussianFlow(Model model) : model_(std::move(model)) {
  validate_gaussian_model(model_);
}

namespace {

/// The model's matrices and β at time t (time-dependent weights, [M]): (G1) holds at every t.
const Model& model_at(const Model& model, double t, Model& scratch) {
  if (!model.schedule) return model;
  const ModelSchedule& s = *model.schedule;
  scratch = model;
  scratch.beta = s.beta.at(t)(0, 0);
  for (std::size_t h = 0; h < scratch.heads.size(); ++h) {
    Head& head = scratch.heads[h];
    const HeadSchedule& hs = s.heads[h];
    if (!hs.Q.is_constant()) head.Q = hs.Q.at(t);
    if (!hs.K.is_constant()) head.K = hs.K.at(t);
    if (!hs.V.is_constant()) head.V = hs.V.at(t);
    if (!hs.W.is_constant()) head.W = hs.W.at(t);
  }
  return scratch;
}

}  // namespace

void GaussianFlow::velocity(double t, const Matrix& x, Matrix& v) {
  ++evaluations_;
  const Index d = x.rows();
  const Vector m = x.col(0);
  const Matrix l = x.rightCols(d);
  Model scratch;
  const AffineField f = gaussian_field(model_at(model_, t, scratch), m, l * l.transpose());
  v.resize(d, d + 1);
  v.col(0) = f.b + f.M * m;
  v.rightCols(d) = f.M * l;
}

namespace {

/// The same flow in the time s with dt/ds = 1/tr Σ: state rows 0..d−1 = [m | L], row d = (t, 0…).
/// Near a simple pole tr Σ ≈ c/(t* − t) it grows like e^{s/c}: no finite-s blow-up.
class RescaledGaussianFlow : public OdeSystem {
 public:
  explicit RescaledGaussianFlow(GaussianFlow& flow) : flow_(flow) {}
  void velocity(double, const Matrix& x, Matrix& v) override {
    const Index d = x.rows() - 1;
    const Matrix top = x.topRows(d);
    flow_.velocity(x(d, 0), top, inner_);
    const double trace = top.rightCols(d).squaredNorm();
    v.setZero(d + 1, d + 1);
    v.topRows(d) = inner_ / trace;
    v(d, 0) = 1.0 / trace;
  }
  std::uint64_t evaluations() const override { return flow_.evaluations(); }

 private:
  GaussianFlow& flow_;
  Matrix inner_;
};

/// d tr Σ / dt = 2 tr(M L Lᵀ) = 2 Σ (M L) ∘ L at a [m | L] state.
double trace_rate(GaussianFlow& flow, double t, const Matrix& state) {
  Matrix v;
  flow.velocity(t, state, v);
  const Index d = state.rows();
  return 2.0 * v.rightCols(d).cwiseProduct(state.rightCols(d)).sum();
}

struct ThresholdCrossed {};

/// The flow, stopped at the first accepted step whose tr Σ exceeds `limit`: retract() sees every
/// accepted state (and only those), so a blow-up is handed to the rescaled flow at once instead of
/// after dopri5 has shrunk its steps towards the singularity until the state overflows.
class GuardedGaussianFlow : public OdeSystem {
 public:
  GuardedGaussianFlow(GaussianFlow& flow, double limit) : flow_(flow), limit_(limit) {}
  void velocity(double t, const Matrix& x, Matrix& v) override { flow_.velocity(t, x, v); }
  void retract(Matrix& x) override {
    if (x.rightCols(x.rows()).squaredNorm() > limit_) throw ThresholdCrossed{};
  }
  std::uint64_t evaluations() const override { return flow_.evaluations(); }

 private:
  GaussianFlow& flow_;
  double limit_;
};

}  // namespace

GaussianSolution solve_gaussian(const Model& model, const Vector& mean0, const Matrix& cov0,
                                const std::vector<double>& times,
                                const GaussianSolveOptions& options) {
  GaussianFlow flow(model);
  const Index d = mean0.size();
  GaussianSolution solution;
  if (times.empty()) return solution;
  Matrix x = gaussian_state(mean0, cov0);
  const double trace0 = x.rightCols(d).squaredNorm();
  const double limit = options.blowup_ratio * trace0;
  Matrix last_state = x;
  double last_time = times.front();
  auto observe = [&](std::size_t, double t, const Matrix& s) {
    if (trace0 > 0.0 && s.rightCols(d).squaredNorm() > limit) throw ThresholdCrossed{};
    solution.frames.push_back({t, state_mean(s), state_cov(s)});
    last_state = s;
    last_time = t;
  };
  std::string failure;
  try {
    if (trace0 > 0.0) {
      GuardedGaussianFlow guarded(flow, limit);
      solution.stats = integrate(guarded, x, times, options.integrate, observe);
    } else {
      solution.stats = integrate(flow, x, times, options.integrate, observe);
    }
    return solution;
  } catch (const ThresholdCrossed&) {
    failure = "the trace of the covariance exceeded its blow-up threshold";
  } catch (const NumericalError& e) {
    if (trace0 == 0.0) throw;  // Σ ≡ 0 cannot blow up: a genuine failure
    failure = e.what();
  }
  solution.stats.evaluations = flow.evaluations();
  // Blow-up between last_time and the next output time (or a failure we must report as such):
  // follow the time-rescaled flow from the last good frame until tr Σ crosses the threshold.
  RescaledGaussianFlow rescaled(flow);
  Matrix y(d + 1, d + 1);
  y.setZero();
  y.topRows(d) = last_state;
  y(d, 0) = last_time;
  IntegrateOptions opt = options.integrate;
  opt.method = Method::dopri5;
  opt.dt = 0.0;
  const double next_time = times.back();
  for (int chunk = 0; chunk < 2000; ++chunk) {
    const Matrix top = y.topRows(d);
    const double trace = top.rightCols(d).squaredNorm();
    const double t = y(d, 0);
    if (trace > limit) {
      const double rate = trace_rate(flow, t, top);
      solution.blowup_detected_at = t;
      solution.blowup_time = rate > 0.0 ? t + trace / rate : t;
      solution.stats.evaluations = flow.evaluations();
      return solution;
    }
    if (t > next_time) break;  // passed every output time without blowing up: not a blow-up
    // One chunk of s in which ln tr Σ grows by about one unit: Δs = tr² / (d tr/dt).
    const double growth = trace_rate(flow, t, top) / (trace * trace);
    const double ds = growth > 0.0 ? 1.0 / growth : 1.0 / trace;
    try {
      integrate(rescaled, y, {0.0, ds}, opt, [](std::size_t, double, const Matrix&) {});
    } catch (const NumericalError&) {
      break;
    }
  }
  throw NumericalError("gaussian: integration failed after t = " + format_number(last_time) + " (" +
                       failure + ") and no blow-up of the covariance was found");
}

double gaussian_w2(const Vector& m1, const Matrix& s1, const Vector& m2, const Matrix& s2) {
  const Dense r1 = sqrt_psd(s1);
  const Dense cross = r1 * Dense(s2) * r1;
  const Eigen::SelfAdjointEigenSolver<Dense> eig(0.5 * (cross + cross.transpose()),
                                                 Eigen::EigenvaluesOnly);
  const double fidelity = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  const double w2sq = (m1 - m2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * fidelity;
  return std::sqrt(std::max(0.0, w2sq));
}

NormalizedSpectrum normalized_spectrum(const Matrix& cov, double rank_tol) {
  const Index d = cov.rows();
  NormalizedSpectrum out;
  out.eigenvalues = Vector::Zero(d);
  const double trace = cov.trace();
  if (!(trace > 0.0)) return out;
  const Eigen::SelfAdjointEigenSolver<Dense> eig(Dense(cov) / trace, Eigen::EigenvaluesOnly);
  for (Index k = 0; k < d; ++k) out.eigenvalues(k) = eig.eigenvalues()(d - 1 - k);  // descending
  for (Index k = 0; k < d; ++k)
    if (out.eigenvalues(k) > rank_tol) ++out.rank;
  return out;
}

void empirical_moments(const Matrix& x, const std::vector<double>& weights, Vector& mean,
                       Matrix& cov) {
  const Index n = x.rows(), d = x.cols();
  mean = Vector::Zero(d);
  for (Index i = 0; i < n; ++i) mean += weights[static_cast<std::size_t>(i)] * x.row(i).transpose();
  cov = Matrix::Zero(d, d);
  for (Index i = 0; i < n; ++i) {
    const Vector c = x.row(i).transpose() - mean;
    cov += weights[static_cast<std::size_t>(i)] * (c * c.transpose());
  }
}

}  // namespace attnflow::reduce
