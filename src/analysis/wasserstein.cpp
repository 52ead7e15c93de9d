#include "attnflow/analysis/wasserstein.hpp"

#include <omp.h>

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "attnflow/dispatch.hpp"
#include "attnflow/error.hpp"
#include "attnflow/head_tables.hpp"
#include "attnflow/rng.hpp"

namespace attnflow::analysis {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool all_equal(const std::vector<double>& w) {
  return std::all_of(w.begin(), w.end(), [&](double v) { return v == w.front(); });
}

double total(const std::vector<double>& w) {
  double s = 0.0;
  for (double v : w) s += v;
  return s;
}

/// Integers proportional to w summing exactly to `scale` (largest remainder, ties by index).
std::vector<std::int64_t> integer_masses(const std::vector<double>& w, std::int64_t scale) {
  const double sum = total(w);
  std::vector<std::int64_t> q(w.size());
  std::vector<double> remainder(w.size());
  std::int64_t assigned = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double exact = w[i] / sum * static_cast<double>(scale);
    q[i] = static_cast<std::int64_t>(std::floor(exact));
    remainder[i] = exact - static_cast<double>(q[i]);
    assigned += q[i];
  }
  std::vector<std::size_t> order(w.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return remainder[i] > remainder[j]; });
  for (std::size_t k = 0; assigned < scale; k = (k + 1) % order.size(), ++assigned) ++q[order[k]];
  for (std::size_t k = order.size(); assigned > scale; --assigned) {  // rounding overshoot (rare)
    k = k == 0 ? order.size() - 1 : k - 1;
    while (q[order[k]] == 0) k = k == 0 ? order.size() - 1 : k - 1;
    --q[order[k]];
  }
  return q;
}

double squared_distance(const Matrix& x, Index i, const Matrix& y, Index j) {
  double s = 0.0;
  for (Index c = 0; c < x.cols(); ++c) {
    const double diff = x(i, c) - y(j, c);
    s += diff * diff;
  }
  return s;
}

void check_dimensions(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                      const std::vector<double>& b) {
  if (x.cols() != y.cols())
    throw InputError("w2", "the two measures live in different dimensions: d = " +
                               std::to_string(x.cols()) + " and d = " + std::to_string(y.cols()));
  if (static_cast<Index>(a.size()) != x.rows() || static_cast<Index>(b.size()) != y.rows())
    throw InputError("w2", "one mass per token is needed");
  if (x.rows() == 0 || y.rows() == 0) throw InputError("w2", "a measure has no tokens");
  if (!(total(a) > 0.0) || !(total(b) > 0.0))
    throw InputError("w2", "a measure has zero total mass");
}

/// Runs the enclosed engine calls on the calling thread only (the nthreads ICV is per thread, so
/// this affects nothing else). Sinkhorn makes thousands of engine calls; below a few million pair
/// operations each is far shorter than the fork/join of a parallel region, which on a loaded
/// machine can cost milliseconds (measured: 0.57 s on one thread vs 9.3 s on two, N = 200, load 7
/// on 2 cores). Results do not depend on it (the engine is thread-count independent).
class SerialScope {
 public:
  explicit SerialScope(bool serial) : saved_(omp_get_max_threads()), active_(serial) {
    if (active_) omp_set_num_threads(1);
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;
  ~SerialScope() {
    if (active_) omp_set_num_threads(saved_);
  }

 private:
  int saved_;
  bool active_;
};

/// Pair·feature operations below which a Sinkhorn transform runs single-threaded.
constexpr double kSinkhornParallelWork = 4.0e6;

/// One direction of the log-domain Sinkhorn update through the streaming engine:
///   out_i = |p_i|² − ε log Σ_j m_j e^{(h_j − |q_j|²)/ε + 2⟨p_i, q_j⟩/ε},
/// i.e. the c-transform-like update f_i = −ε log Σ_j m_j e^{(h_j − |p_i − q_j|²)/ε}.
class SoftTransform {
 public:
  SoftTransform(const Matrix& p, const Matrix& q, const std::vector<double>& q_mass)
      : p_sq_(static_cast<std::size_t>(p.rows())),
        q_sq_(static_cast<std::size_t>(q.rows())),
        log_mass_(static_cast<std::size_t>(q.rows())) {
    const Matrix identity = Matrix::Identity(p.cols(), p.cols());
    const std::vector<double> p_pos(static_cast<std::size_t>(p.rows()), 0.0);
    const std::vector<double> q_pos(static_cast<std::size_t>(q.rows()), 0.0);
    fill_queries(identity, p, p_pos, queries_);
    fill_keys(identity, nullptr, q, q_mass, q_pos, keys_);
    for (Index i = 0; i < p.rows(); ++i)
      p_sq_[static_cast<std::size_t>(i)] = p.row(i).squaredNorm();
    for (Index j = 0; j < q.rows(); ++j) {
      q_sq_[static_cast<std::size_t>(j)] = q.row(j).squaredNorm();
      const double m = q_mass[static_cast<std::size_t>(j)];
      log_mass_[static_cast<std::size_t>(j)] = m > 0.0 ? std::log(m) : kNegInf;
    }
    log_z_.resize(p_sq_.size());
  }

  /// out ← the update of the class comment for potentials h on the q side.
  void apply(double eps, const std::vector<double>& h, std::vector<double>& out) {
    for (std::size_t j = 0; j < h.size(); ++j)
      keys_.log_weight[j] =
          log_mass_[j] == kNegInf ? kNegInf : log_mass_[j] + (h[j] - q_sq_[j]) / eps;
    const SerialScope serial(static_cast<double>(queries_.n) * static_cast<double>(keys_.n) *
                                 static_cast<double>(queries_.k + 1) <
                             kSinkhornParallelWork);
    attend_unnormalized(false, 2.0 / eps, queries_, keys_, AttentionOutput{nullptr, log_z_.data()});
    out.resize(p_sq_.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = p_sq_[i] - eps * log_z_[i];
  }

 private:
  QueryTable queries_;
  KeyTable keys_;
  std::vector<double> p_sq_, q_sq_, log_mass_, log_z_;
};

/// max_i over massive tokens of |e^{(f_i − f_new_i)/ε} − 1|: the marginal error of the plan.
double marginal_error(const std::vector<double>& f, const std::vector<double>& f_new,
                      const std::vector<double>& mass, double eps) {
  double e = 0.0;
  for (std::size_t i = 0; i < f.size(); ++i)
    if (mass[i] > 0.0) e = std::max(e, std::fabs(std::expm1((f[i] - f_new[i]) / eps)));
  return e;
}

double dot_mass(const std::vector<double>& m, const std::vector<double>& f) {
  double s = 0.0;
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m[i] > 0.0) s += m[i] * f[i];
  return s;
}

/// ε-annealing schedule: C_max, C_max/2, ... down to ε (the last stage is ε itself).
std::vector<double> annealing(double c_max, double eps) {
  std::vector<double> stages;
  for (double e = c_max; e > eps; e *= 0.5) stages.push_back(e);
  stages.push_back(eps);
  return stages;
}

struct Solve {
  double value = 0.0;
  int iterations = 0;
  double error = 0.0;
};

/// OT_ε(a, b) by simultaneous averaged updates f ← ½(f + T_b g), g ← ½(g + T_a f) with annealing
/// (the symmetric scheme of Feydy et al. 2019, which converges far faster than alternating
/// Sinkhorn at small ε when nearby tokens form clusters); the value is taken at (f, T_a f), whose
/// column marginals are exact, so it is a dual lower bound of OT_ε.
Solve solve_ot(const Matrix& x, const std::vector<double>& a, const Matrix& y,
               const std::vector<double>& b, double c_max, const SinkhornOptions& o) {
  SoftTransform to_x(x, y, b), to_y(y, x, a);
  std::vector<double> f(a.size(), 0.0), g(b.size(), 0.0), f_new, g_new;
  Solve s;
  const std::vector<double> stages = annealing(c_max, o.epsilon);
  for (std::size_t k = 0; k < stages.size(); ++k) {
    const double eps = stages[k];
    const double tol = k + 1 == stages.size() ? o.tol : std::max(o.tol, 1e-3);
    for (int it = 0; it < o.max_iters; ++it) {
      to_x.apply(eps, g, f_new);
      to_y.apply(eps, f, g_new);
      s.error = std::max(marginal_error(f, f_new, a, eps), marginal_error(g, g_new, b, eps));
      for (std::size_t i = 0; i < f.size(); ++i) f[i] = 0.5 * (f[i] + f_new[i]);
      for (std::size_t j = 0; j < g.size(); ++j) g[j] = 0.5 * (g[j] + g_new[j]);
      ++s.iterations;
      if (s.error <= tol) break;
    }
  }
  to_y.apply(o.epsilon, f, g);
  s.value = dot_mass(a, f) + dot_mass(b, g);
  return s;
}

/// OT_ε(a, a) by the symmetric averaged update f ← ½(f + T f) with annealing.
Solve solve_symmetric(const Matrix& x, const std::vector<double>& a, double c_max,
                      const SinkhornOptions& o) {
  SoftTransform t(x, x, a);
  std::vector<double> f(a.size(), 0.0), tf;
  Solve s;
  const std::vector<double> stages = annealing(c_max, o.epsilon);
  for (std::size_t k = 0; k < stages.size(); ++k) {
    const double eps = stages[k];
    const double tol = k + 1 == stages.size() ? o.tol : std::max(o.tol, 1e-3);
    for (int it = 0; it < o.max_iters; ++it) {
      t.apply(eps, f, tf);
      s.error = marginal_error(f, tf, a, eps);
      for (std::size_t i = 0; i < f.size(); ++i) f[i] = 0.5 * (f[i] + tf[i]);
      ++s.iterations;
      if (s.error <= tol) break;
    }
  }
  t.apply(o.epsilon, f, tf);  // one exact transform: the value of the (f, Tf) pair
  s.value = dot_mass(a, f) + dot_mass(a, tf);
  return s;
}

std::vector<double> normalised(const std::vector<double>& w) {
  const double s = total(w);
  std::vector<double> out(w);
  for (double& v : out) v /= s;
  return out;
}

}  // namespace

std::string_view w2_method_name(W2Method method) {
  switch (method) {
    case W2Method::exact:
      return "exact";
    case W2Method::sinkhorn:
      return "sinkhorn";
    case W2Method::sliced:
      return "sliced";
    case W2Method::gaussian:
      return "gaussian";
    case W2Method::conditional:
      return "conditional";
  }
  return "exact";
}

W2Method w2_method_from_name(std::string_view name, const std::string& key) {
  for (W2Method m : {W2Method::exact, W2Method::sinkhorn, W2Method::sliced, W2Method::gaussian,
                     W2Method::conditional})
    if (w2_method_name(m) == name) return m;
  std::string message = "unknown method '";
  message += name;
  message += "'; allowed: exact, sinkhorn, sliced, gaussian, conditional";
  throw InputError(key, message);
}

double w2_squared_exact(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                        const std::vector<double>& b) {
  check_dimensions(x, a, y, b);
  const Index n = x.rows();
  const Index m = y.rows();
  if (n * m > kExactMaxPairs)
    throw InputError("w2", "the exact solver handles at most " + std::to_string(kExactMaxPairs) +
                               " token pairs, got " + std::to_string(n) + " x " +
                               std::to_string(m) + "; use --method sinkhorn or sliced");
  std::vector<std::int64_t> supply_a, supply_b;
  std::int64_t flow_scale = 0;
  if (all_equal(a) && all_equal(b)) {
    supply_a.assign(static_cast<std::size_t>(n), m);  // mass 1/N each = M units out of N·M
    supply_b.assign(static_cast<std::size_t>(m), n);
    flow_scale = n * m;
  } else {
    flow_scale = std::int64_t{1} << 50;
    supply_a = integer_masses(a, flow_scale);
    supply_b = integer_masses(b, flow_scale);
  }
  std::vector<double> cost(static_cast<std::size_t>(n * m));
  double c_max = 0.0;
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j) {
      const double c = squared_distance(x, i, y, j);
      cost[static_cast<std::size_t>(i * m + j)] = c;
      c_max = std::max(c_max, c);
    }
  // LEMON's potentials are sums of at most N + M + 1 costs on top of its artificial cost 2^62;
  // integer costs ≤ 2^58/(N + M + 1) keep every intermediate below 2^63.
  const double cost_scale =
      c_max > 0.0 ? std::ldexp(1.0, 58) / static_cast<double>(n + m + 1) / c_max : 1.0;

  lemon::SmartDigraph graph;
  graph.reserveNode(static_cast<int>(n + m));
  graph.reserveArc(static_cast<int>(n * m));
  std::vector<lemon::SmartDigraph::Node> nodes;
  for (Index k = 0; k < n + m; ++k) nodes.push_back(graph.addNode());
  lemon::SmartDigraph::ArcMap<std::int64_t> arc_cost(graph);
  lemon::SmartDigraph::NodeMap<std::int64_t> supply(graph);
  for (Index i = 0; i < n; ++i)
    supply[nodes[static_cast<std::size_t>(i)]] = supply_a[static_cast<std::size_t>(i)];
  for (Index j = 0; j < m; ++j)
    supply[nodes[static_cast<std::size_t>(n + j)]] = -supply_b[static_cast<std::size_t>(j)];
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j) {
      const auto arc =
          graph.addArc(nodes[static_cast<std::size_t>(i)], nodes[static_cast<std::size_t>(n + j)]);
      arc_cost[arc] = std::llround(cost[static_cast<std::size_t>(i * m + j)] * cost_scale);
    }
  lemon::NetworkSimplex<lemon::SmartDigraph, std::int64_t, std::int64_t> simplex(graph);
  simplex.costMap(arc_cost).supplyMap(supply);
  if (simplex.run() != decltype(simplex)::OPTIMAL)
    throw std::runtime_error("w2: the network simplex found no optimal plan");
  // Arcs were added in (i, j) order, so arc id = i·M + j.
  double w2 = 0.0;
  for (lemon::SmartDigraph::ArcIt arc(graph); arc != lemon::INVALID; ++arc) {
    const std::int64_t flow = simplex.flow(arc);
    if (flow != 0) w2 += static_cast<double>(flow) * cost[static_cast<std::size_t>(graph.id(arc))];
  }
  return w2 / static_cast<double>(flow_scale);
}

SinkhornResult sinkhorn_divergence(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                                   const std::vector<double>& b, const SinkhornOptions& options) {
  check_dimensions(x, a, y, b);
  if (!(options.epsilon > 0.0) || !std::isfinite(options.epsilon))
    throw InputError("w2.epsilon", "must be finite and > 0, got " + format_number(options.epsilon));
  const std::vector<double> an = normalised(a), bn = normalised(b);
  double rx = 0.0, ry = 0.0;
  for (Index i = 0; i < x.rows(); ++i) rx = std::max(rx, x.row(i).norm());
  for (Index j = 0; j < y.rows(); ++j) ry = std::max(ry, y.row(j).norm());
  // Annealing starts at the largest possible cost, where the plan is close to a ⊗ b.
  const double c_ab = std::max((rx + ry) * (rx + ry), options.epsilon);
  const Solve ab = solve_ot(x, an, y, bn, c_ab, options);
  const Solve aa = solve_symmetric(x, an, std::max(4.0 * rx * rx, options.epsilon), options);
  const Solve bb = solve_symmetric(y, bn, std::max(4.0 * ry * ry, options.epsilon), options);
  SinkhornResult r;
  r.ot_ab = ab.value;
  r.ot_aa = aa.value;
  r.ot_bb = bb.value;
  r.divergence = ab.value - 0.5 * (aa.value + bb.value);
  r.iterations = ab.iterations + aa.iterations + bb.iterations;
  r.marginal_error = std::max({ab.error, aa.error, bb.error});
  return r;
}

double w2_squared_1d(const std::vector<double>& x, const std::vector<double>& a,
                     const std::vector<double>& y, const std::vector<double>& b) {
  std::vector<std::size_t> ox(x.size()), oy(y.size());
  std::iota(ox.begin(), ox.end(), std::size_t{0});
  std::iota(oy.begin(), oy.end(), std::size_t{0});
  std::stable_sort(ox.begin(), ox.end(), [&](std::size_t i, std::size_t j) { return x[i] < x[j]; });
  std::stable_sort(oy.begin(), oy.end(), [&](std::size_t i, std::size_t j) { return y[i] < y[j]; });
  const double ta = total(a), tb = total(b);
  std::size_t i = 0, j = 0;
  double ra = x.empty() ? 0.0 : a[ox[0]] / ta, rb = y.empty() ? 0.0 : b[oy[0]] / tb;
  double sum = 0.0;
  while (i < x.size() && j < y.size()) {
    const double diff = x[ox[i]] - y[oy[j]];
    if (ra <= rb) {  // token i of μ is used up
      sum += ra * diff * diff;
      rb -= ra;
      if (++i < x.size()) ra = a[ox[i]] / ta;
    } else {
      sum += rb * diff * diff;
      ra -= rb;
      if (++j < y.size()) rb = b[oy[j]] / tb;
    }
  }
  return sum;
}

double sliced_w2_squared(const Matrix& x, const std::vector<double>& a, const Matrix& y,
                         const std::vector<double>& b, int projections, std::uint64_t seed) {
  check_dimensions(x, a, y, b);
  if (projections < 1)
    throw InputError("w2.projections", "must be at least 1, got " + std::to_string(projections));
  const Index d = x.cols();
  Matrix theta(projections, d);
  Rng rng(seed);
  for (Index l = 0; l < projections; ++l) {
    do {
      for (Index c = 0; c < d; ++c) theta(l, c) = rng.normal();
    } while (theta.row(l).norm() == 0.0);
    theta.row(l) /= theta.row(l).norm();
  }
  std::vector<double> per(static_cast<std::size_t>(projections));
#pragma omp parallel for schedule(static) if (projections > 1 && \
                                              (x.rows() + y.rows()) * projections > 100000)
  for (Index l = 0; l < projections; ++l) {
    std::vector<double> px(static_cast<std::size_t>(x.rows())),
        py(static_cast<std::size_t>(y.rows()));
    for (Index i = 0; i < x.rows(); ++i)
      px[static_cast<std::size_t>(i)] = x.row(i).dot(theta.row(l));
    for (Index j = 0; j < y.rows(); ++j)
      py[static_cast<std::size_t>(j)] = y.row(j).dot(theta.row(l));
    per[static_cast<std::size_t>(l)] = w2_squared_1d(px, a, py, b);
  }
  double sum = 0.0;
  for (double v : per) sum += v;
  return sum / static_cast<double>(projections);
}

GaussianMoments gaussian_moments(const Matrix& x, const std::vector<double>& a) {
  const double t = total(a);
  GaussianMoments g{Vector::Zero(x.cols()), Matrix::Zero(x.cols(), x.cols())};
  for (Index i = 0; i < x.rows(); ++i)
    g.mean += (a[static_cast<std::size_t>(i)] / t) * x.row(i).transpose();
  for (Index i = 0; i < x.rows(); ++i) {
    const Vector c = x.row(i).transpose() - g.mean;
    g.cov += (a[static_cast<std::size_t>(i)] / t) * (c * c.transpose());
  }
  return g;
}

double w2_squared_gaussian(const Vector& m1, const Matrix& s1, const Vector& m2, const Matrix& s2) {
  using Dense = Eigen::MatrixXd;
  const Dense a = 0.5 * (Dense(s1) + Dense(s1).transpose());
  const Dense b = 0.5 * (Dense(s2) + Dense(s2).transpose());
  Eigen::SelfAdjointEigenSolver<Dense> ea(a);
  const Eigen::VectorXd root = ea.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Dense a_half = ea.eigenvectors() * root.asDiagonal() * ea.eigenvectors().transpose();
  Dense mid = a_half * b * a_half;
  mid = 0.5 * (mid + mid.transpose());
  Eigen::SelfAdjointEigenSolver<Dense> em(mid, Eigen::EigenvaluesOnly);
  const double cross = em.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return std::max(0.0, (m1 - m2).squaredNorm() + a.trace() + b.trace() - 2.0 * cross);
}

double w2_squared_conditional(const Matrix& x, const std::vector<double>& a,
                              const std::vector<double>& pos_a, const Matrix& y,
                              const std::vector<double>& b, const std::vector<double>& pos_b) {
  check_dimensions(x, a, y, b);
  std::map<double, std::vector<Index>> ga, gb;
  for (Index i = 0; i < x.rows(); ++i) ga[pos_a[static_cast<std::size_t>(i)]].push_back(i);
  for (Index j = 0; j < y.rows(); ++j) gb[pos_b[static_cast<std::size_t>(j)]].push_back(j);
  const double ta = total(a), tb = total(b);
  double sum = 0.0;
  auto ib = gb.begin();
  for (const auto& [s, ia] : ga) {
    if (ib == gb.end() || ib->first != s)
      throw InputError("w2",
                       "conditional W2 needs the same sequence positions in both runs; position " +
                           format_number(s) + " is in one run only");
    double ma = 0.0, mb = 0.0;
    for (Index i : ia) ma += a[static_cast<std::size_t>(i)] / ta;
    for (Index j : ib->second) mb += b[static_cast<std::size_t>(j)] / tb;
    if (std::fabs(ma - mb) > 1e-9)
      throw InputError("w2", "conditional W2 needs equal masses at each position; position " +
                                 format_number(s) + " has mass " + format_number(ma) + " and " +
                                 format_number(mb));
    Matrix xs(static_cast<Index>(ia.size()), x.cols()),
        ys(static_cast<Index>(ib->second.size()), y.cols());
    std::vector<double> as, bs;
    for (std::size_t k = 0; k < ia.size(); ++k) {
      xs.row(static_cast<Index>(k)) = x.row(ia[k]);
      as.push_back(a[static_cast<std::size_t>(ia[k])]);
    }
    for (std::size_t k = 0; k < ib->second.size(); ++k) {
      ys.row(static_cast<Index>(k)) = y.row(ib->second[k]);
      bs.push_back(b[static_cast<std::size_t>(ib->second[k])]);
    }
    if (ma > 0.0) {
      const double local = xs.rows() == 1 && ys.rows() == 1 ? squared_distance(xs, 0, ys, 0)
                                                            : w2_squared_exact(xs, as, ys, bs);
      sum += ma * local;
    }
    ++ib;
  }
  if (ib != gb.end())
    throw InputError("w2",
                     "conditional W2 needs the same sequence positions in both runs; position " +
                         format_number(ib->first) + " is in one run only");
  return sum;
}

double w2_distance(const Matrix& x, const std::vector<double>& a, const std::vector<double>& pos_a,
                   const Matrix& y, const std::vector<double>& b, const std::vector<double>& pos_b,
                   const W2Options& options) {
  double sq = 0.0;
  switch (options.method) {
    case W2Method::exact:
      sq = w2_squared_exact(x, a, y, b);
      break;
    case W2Method::sinkhorn:
      sq = sinkhorn_divergence(x, a, y, b, options.sinkhorn).divergence;
      break;
    case W2Method::sliced:
      sq = sliced_w2_squared(x, a, y, b, options.projections, options.seed);
      break;
    case W2Method::gaussian: {
      check_dimensions(x, a, y, b);
      const GaussianMoments ga = gaussian_moments(x, a), gb = gaussian_moments(y, b);
      sq = w2_squared_gaussian(ga.mean, ga.cov, gb.mean, gb.cov);
      break;
    }
    case W2Method::conditional:
      sq = w2_squared_conditional(x, a, pos_a, y, b, pos_b);
      break;
  }
  return std::sqrt(std::max(sq, 0.0));
}

}  // namespace attnflow::analysis
