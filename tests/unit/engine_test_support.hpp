#pragma once
// Shared inputs and error bounds for the engine, integrator and analysis tests. Everything here
// produces *inputs* (random tokens, weights, models) or *tolerances*; expected values always come
// from tests/dense_reference.hpp or from closed forms written in the tests themselves.
#include <gtest/gtest.h>

#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "attnflow/attention_tables.hpp"
#include "attnflow/model.hpp"
#include "attnflow/rng.hpp"
#include "attnflow/types.hpp"
#include "dense_reference.hpp"

namespace enginetest {

using attnflow::Geometry;
using attnflow::Head;
using attnflow::Index;
using attnflow::KernelKind;
using attnflow::Matrix;
using attnflow::Model;
using attnflow::Rng;

/// Unit round-off of float64: |fl(a ∘ b) − a ∘ b| ≤ u |a ∘ b|.
inline constexpr double kU = std::numeric_limits<double>::epsilon() / 2.0;
inline constexpr double kInf = std::numeric_limits<double>::infinity();
/// Step cap for the integrations in the tests (each needs ≤ a few thousand steps): a broken step
/// controller then fails fast with NumericalError instead of running for hours.
inline constexpr std::uint64_t kMaxSteps = 200000;

inline Matrix gaussian_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.normal();
  return m;
}

/// Rows uniform on S^{d−1} (normalised Gaussians), written here independently of src/core/init.cpp.
inline Matrix sphere_points(Index n, Index d, Rng& rng) {
  Matrix x = gaussian_matrix(n, d, rng);
  for (Index i = 0; i < n; ++i) x.row(i) /= x.row(i).norm();
  return x;
}

/// Sphere directions with radii uniform in [0.5, 1.5]: the field itself is geometry-agnostic.
inline Matrix radial_points(Index n, Index d, Rng& rng) {
  Matrix x = sphere_points(n, d, rng);
  for (Index i = 0; i < n; ++i) x.row(i) *= 0.5 + rng.uniform();
  return x;
}

inline std::vector<double> uniform_weights(Index n) {
  return std::vector<double>(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
}

/// Dirichlet(1,…,1)-like masses (normalised Exp(1) variates) with every token j ≡ 1 (mod 4) made
/// massless; N = 1 gets the single mass 1.
inline std::vector<double> random_weights(Index n, Rng& rng) {
  std::vector<double> w(static_cast<std::size_t>(n));
  for (Index j = 0; j < n; ++j) w[j] = (n > 1 && j % 4 == 1) ? 0.0 : -std::log(1.0 - rng.uniform());
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& v : w) v /= total;
  return w;
}

inline std::vector<double> index_positions(Index n) {
  std::vector<double> p(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) p[i] = static_cast<double>(i);
  return p;
}

/// Fisher–Yates permutation of 0..n−1.
inline std::vector<Index> random_permutation(Index n, Rng& rng) {
  std::vector<Index> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), Index{0});
  for (Index i = n - 1; i > 0; --i) {
    const auto j = static_cast<Index>(rng.uniform() * static_cast<double>(i + 1));
    std::swap(p[i], p[std::min(j, i)]);
  }
  return p;
}

/// Shuffled sequence positions with ties: a random permutation of ⌊i/2⌋ · 0.5 (pairs share a
/// position), so the causal mask is not the index order and j ≤ i comparisons meet equal positions.
inline std::vector<double> shuffled_tied_positions(Index n, Rng& rng) {
  const std::vector<Index> perm = random_permutation(n, rng);
  std::vector<double> p(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) p[i] = 0.5 * static_cast<double>(perm[i] / 2);
  return p;
}

/// A random orthogonal matrix (Q factor of a Gaussian matrix).
inline Matrix random_orthogonal(Index d, Rng& rng) {
  const Eigen::MatrixXd g = gaussian_matrix(d, d, rng);
  const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(g).householderQ();
  return q;
}

inline void tight_kernel_parameters(Model& m);

/// One head with Q = K = V = I (built here, not with identity_model, so the model is an input).
inline Model identity_heads(Index d, double beta, KernelKind kernel,
                            Geometry geometry = Geometry::sphere) {
  Model m;
  m.geometry = geometry;
  m.kernel = kernel;
  m.beta = beta;
  m.heads.push_back(
      Head{Matrix::Identity(d, d), Matrix::Identity(d, d), Matrix::Identity(d, d), Matrix()});
  tight_kernel_parameters(m);
  return m;
}

/// Three heads with different score dimensions k ∈ {2, d+1, 5} and value dimensions
/// dv ∈ {4, 1, d+2}: random k×d Q, K, random dv×d V and random d×dv W, scaled so scores are O(1).
inline Model multi_head(Index d, double beta, KernelKind kernel, Rng& rng,
                        Geometry geometry = Geometry::euclidean) {
  Model m;
  m.geometry = geometry;
  m.kernel = kernel;
  m.beta = beta;
  const Index ks[3] = {2, d + 1, 5};
  const Index dvs[3] = {4, 1, d + 2};
  const double sd = 1.0 / std::sqrt(static_cast<double>(d));
  for (int h = 0; h < 3; ++h) {
    Head head;
    head.Q = gaussian_matrix(ks[h], d, rng, 1.5 * sd);
    head.K = gaussian_matrix(ks[h], d, rng, 1.5 * sd);
    head.V = gaussian_matrix(dvs[h], d, rng, sd);
    head.W = gaussian_matrix(d, dvs[h], rng, 1.0 / std::sqrt(static_cast<double>(dvs[h])));
    m.heads.push_back(std::move(head));
  }
  tight_kernel_parameters(m);
  return m;
}

inline double max_abs_log_weight(const std::vector<double>& w) {
  double l = 0.0;
  for (double v : w)
    if (v > 0.0) l = std::max(l, std::fabs(std::log(v)));
  return l;
}

/// First-order forward-error bound of the streaming engine, *relative to the conditioning scale*
/// of each output entry (dense::FieldResult::v_abs = Σ_h |W_h| Σ_j |a_ij| |V_h||x_j|), in the
/// standard model |fl(a∘b) − a∘b| ≤ u|a∘b|, u = 2⁻⁵³, γ_m ≈ m u, and with the engine's exponential
/// within 2 ulp ≤ 4u (simd.hpp, tests/unit/test_fast_exp.cpp); a fused multiply-add (AVX-512,
/// AVX2 widths) rounds once where this counts a product and a sum, so the bound holds at every
/// width:
///  (1) q = Qx, k = Kx: |δq| ≤ γ_d |Q||x| (same for k);
///  (2) s = β⟨q, k⟩ (k products, k − 1 sums, × β), or −β‖q − k‖²: |δs| ≤ (γ_{k+1} + 2γ_d) S, with
///      S the dense reference's max_score_scale (β Σ_c (|Q||x_i|)_c (|K||x_j|)_c, or with
///      ((|Q||x_i|)_c + (|K||x_j|)_c)² for L2) ≥ |s|;
///  (3) s + log w_j (or s + b): + u (S + L), L = max |log w_j| (+ |b|);
///  (4) p = exp(s − m) with m the max of the computed s: relative 2|δs| + u·2(S + L) + 4u;
///  (5) each of at most ⌈N/kMinKeyBlock⌉ running-max rescalings: relative u·2(S + L) + 4u;
///  (6) Σ_j p_ij u_j in kLanes lanes then across lanes: γ_{N/kLanes + kLanes}, plus u_j = Vx_j:
///  γ_d; (7) softmax: the same sum error in the normaliser, then one division; USA: e^m a (or
///      e^{m + log|a|}) with rounding ≤ u (S + L + log N + 40) + 8u for outputs ≥ e^{−40}·scale;
///  (8) W y: γ_dv; the heads are summed: γ_H.
/// The sum is doubled to cover the first-order γ approximation.
inline double engine_bound(double score_scale, double max_log_w, Index n, Index d, Index k,
                           Index dv, Index heads) {
  const double S = score_scale, L = max_log_w;
  const double N = static_cast<double>(n);
  const double blocks = std::ceil(N / static_cast<double>(attnflow::kMinKeyBlock));
  const double terms =
      2.0 * static_cast<double>(k + 1 + 2 * d) * S  // (1)–(2), twice in (4)
      + (S + L)                                     // (3)
      + 2.0 * (S + L) + 4.0                         // (4)
      + blocks * (2.0 * (S + L) + 4.0)              // (5)
      + 2.0 * (N / static_cast<double>(attnflow::kLanes) + static_cast<double>(attnflow::kLanes)) +
      static_cast<double>(d)                                   // (6), (7) sums
      + 1.0 + (S + L + std::log(N) + 48.0)                     // (7)
      + static_cast<double>(dv) + static_cast<double>(heads);  // (8)
  return 2.0 * kU * terms;
}

/// The bound for a whole model against its dense field. L = max |log w_j| (plus |b| for sigmoid:
/// the argument s + b is rounded like s + log w).
///
/// Sinkhorn adds the error of stopping the iteration: the engine stops once the column marginals
/// are within ε = model.sinkhorn_tol, then updates g once more. If the marginal errors contract by
/// λ per iteration (the dense reference's observed rate), the remaining movement of every g_j is
/// ≤ Σ_k ε λ^k = ε/(1 − λ), so osc(g − g*) ≤ 2ε/(1 − λ); after the final row normalisation every
/// a_ij is off by a relative e^{osc} − 1 ≈ osc. Each pass's own rounding (≤ rel in log Z) is
/// propagated the same way: + 2 rel/(1 − λ). Doubled for safety.
inline double engine_bound(const Model& model, const dense::FieldResult& ref,
                           const std::vector<double>& w, Index n, Index d) {
  Index k = 0, dv = 0;
  for (const Head& h : model.heads) {
    k = std::max(k, h.Q.rows());
    dv = std::max(dv, h.V.rows());
  }
  const double rel =
      engine_bound(ref.max_score_scale, std::max(max_abs_log_weight(w), ref.max_abs_log_weight), n,
                   d, k, dv, static_cast<Index>(model.heads.size()));
  if (model.kernel != KernelKind::sinkhorn) return rel;
  const double lambda = std::min(ref.sinkhorn_rate, 0.999);
  return rel + 4.0 * (model.sinkhorn_tol + rel) / (1.0 - lambda);
}

/// Kernel parameters the tests use: Sinkhorn run to a tight marginal tolerance with room to get
/// there (its stopping error enters the bound above); sigmoid keeps the default bias −log N.
inline void tight_kernel_parameters(Model& m) {
  m.sinkhorn_iters = 2000;
  m.sinkhorn_tol = 1e-12;
}

/// hardmax is discontinuous: a comparison is meaningful only if no row's top two scores are closer
/// than the scores' rounding (≤ rel·S), which random inputs satisfy by far.
inline void expect_well_posed(const Model& model, const dense::FieldResult& ref, double rel) {
  if (model.kernel == KernelKind::hardmax) {
    EXPECT_GT(ref.min_argmax_gap, 100.0 * rel * std::max(1.0, ref.max_score_scale));
  }
}

/// |actual − expected| ≤ rel · scale entrywise (scale 0 demands exact equality); reports the worst
/// entry and how many violated.
inline ::testing::AssertionResult within_scaled(const Matrix& actual, const Matrix& expected,
                                                const Matrix& scale, double rel) {
  if (actual.rows() != expected.rows() || actual.cols() != expected.cols())
    return ::testing::AssertionFailure() << "shape " << actual.rows() << "x" << actual.cols()
                                         << " vs " << expected.rows() << "x" << expected.cols();
  Index bad = 0, worst = -1;
  double worst_ratio = 0.0;
  for (Index i = 0; i < actual.size(); ++i) {
    const double err = std::fabs(actual.data()[i] - expected.data()[i]);
    const double tol = rel * scale.data()[i];
    const bool ok = std::isfinite(actual.data()[i]) && err <= tol;
    const double ratio = ok ? (tol > 0.0 ? err / tol : 0.0) : kInf;
    if (!ok) ++bad;
    if (worst < 0 || ratio > worst_ratio || (!ok && bad == 1)) {
      worst_ratio = std::max(worst_ratio, ratio);
      worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess() << "worst error/tolerance " << worst_ratio;
  const Index c = actual.cols();
  std::ostringstream s;
  s.precision(17);
  s << bad << " of " << actual.size() << " entries outside rel " << rel << "·scale; e.g. ("
    << worst / c << "," << worst % c << "): got " << actual.data()[worst] << ", expected "
    << expected.data()[worst] << ", scale " << scale.data()[worst];
  return ::testing::AssertionFailure() << s.str();
}

/// Vector of doubles → N×1 matrix.
inline Matrix column(const std::vector<double>& v) {
  Matrix m(static_cast<Index>(v.size()), 1);
  for (std::size_t i = 0; i < v.size(); ++i) m(static_cast<Index>(i), 0) = v[i];
  return m;
}

/// Least-squares slope of log(err) against log(h).
inline double fitted_slope(const std::vector<double>& h, const std::vector<double>& err) {
  const std::size_t n = h.size();
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += std::log(h[i]);
    my += std::log(err[i]);
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (std::log(h[i]) - mx) * (std::log(err[i]) - my);
    sxx += (std::log(h[i]) - mx) * (std::log(h[i]) - mx);
  }
  return sxy / sxx;
}

}  // namespace enginetest
