#pragma once
// An independent, deliberately simple O(N²) reference for the attention engine and the energies.
//
// Nothing here shares code with src/: the N×N score matrix is built explicitly, every quantity is
// computed in long double (64-bit mantissa on x86-64, exponent range up to e^{11356}), softmax rows
// are max-shifted explicitly, the unnormalised kernel exponentiates directly, and Sinkhorn runs
// plain matrix scaling to long-double convergence. There is no online softmax, no SoA layout, no
// blocking and no threading. The only inputs taken from attnflow are the plain data types.
//
// Conventions mirrored from the documented contract (normalization.hpp): a query that sees no key
// with positive mass gets the output 0 and log Z = −∞.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnflow/model.hpp"
#include "attnflow/types.hpp"

namespace dense {

using attnflow::Head;
using attnflow::Index;
using attnflow::KernelKind;
using attnflow::Matrix;
using attnflow::Model;
using Real = long double;

/// Thrown when the reference is asked for a kernel it does not implement: a new KernelKind must be
/// added here (every switch below has no default, so -Wswitch -Werror already stops the build).
[[noreturn]] inline void unknown_kernel(KernelKind kernel) {
  throw std::logic_error("dense reference: unknown KernelKind " +
                         std::to_string(static_cast<int>(kernel)) +
                         "; implement it in tests/dense_reference.hpp");
}

/// σ(z) in long double.
inline Real sigmoid(Real z) {
  return z >= 0 ? 1.0L / (1.0L + expl(-z)) : expl(z) / (1.0L + expl(z));
}

/// The sigmoid kernel's weight per unit mass, e^{−b} σ(s + b) (docs/kernels.md: attnflow's
/// normalisation of [C]'s w_j σ(s + b), so that b = −log N with uniform masses is the real layer
/// Σ_j σ(s_ij − log N) V x_j, and b → −∞ gives USA). Written as e^{−b}·σ: a different evaluation
/// from the engine's 1/(e^b + e^{−s}).
inline Real sigmoid_weight(Real s, Real b) {
  return expl(-b) * sigmoid(s + b);
}

/// The sigmoid bias a model uses: model.sigmoid_bias, or the documented default −log N.
inline double sigmoid_bias(const Model& model, Index n) {
  return std::isnan(model.sigmoid_bias) ? -std::log(static_cast<double>(n)) : model.sigmoid_bias;
}

/// One head evaluated densely.
struct HeadResult {
  Matrix y;      ///< N×dv: Σ_j a_ij V x_j
  Matrix y_abs;  ///< N×dv: Σ_j |a_ij| (|V| |x_j|), the conditioning scale of each sum
  /// log Σ_j p_ij of the kernel's unnormalised weights (−∞ when no visible key has mass):
  /// softmax / usa / l2: log Σ_j w_j e^{s_ij}; sigmoid: log Σ_j w_j e^{−b} σ(s_ij + b);
  /// hardmax: max_j s_ij + log(mass of the argmax set); sinkhorn: log Σ_j w_j e^{g_j + s_ij} =
  /// −f_i.
  std::vector<double> log_z;
  /// max over contributing pairs of the scale of s_ij's rounding: β Σ_c (|Q||x_i|)_c (|K||x_j|)_c
  /// (dot scores) or β Σ_c ((|Q||x_i|)_c + (|K||x_j|)_c)² (L2); it also bounds |s_ij|.
  double max_score_scale = 0.0;
  double max_abs_log_weight = 0.0;  ///< max |log w_j| (+ |b| for sigmoid) over massive keys
  /// hardmax: the smallest gap between a row's maximum and its next distinct score (∞ otherwise);
  /// a gap below the score rounding would make the argmax ill-posed.
  double min_argmax_gap = std::numeric_limits<double>::infinity();
  std::vector<double> g;  ///< sinkhorn: column potentials (0 for massless keys)
  /// sinkhorn: the observed contraction factor of the marginal error per iteration.
  double sinkhorn_rate = 0.0;
};

/// Whether key j is visible to query i.
inline bool visible(bool causal, double position_i, double position_j) {
  return !causal || position_j <= position_i;
}

/// y = M x for a row x (long double accumulation); with absolute = true, |M| |x| entrywise.
inline std::vector<Real> apply(const Matrix& m, const Matrix& x, Index row, bool absolute = false) {
  std::vector<Real> out(static_cast<std::size_t>(m.rows()), 0.0L);
  for (Index a = 0; a < m.rows(); ++a) {
    Real s = 0.0L;
    for (Index c = 0; c < m.cols(); ++c)
      s += absolute ? fabsl(static_cast<Real>(m(a, c)) * x(row, c))
                    : static_cast<Real>(m(a, c)) * x(row, c);
    out[static_cast<std::size_t>(a)] = s;
  }
  return out;
}

/// The score of a kernel: β⟨q, k⟩, or −β‖q − k‖² for L2. Sets `scale` to the rounding scale.
inline Real score(KernelKind kernel, Real beta, const std::vector<Real>& q,
                  const std::vector<Real>& k, const std::vector<Real>& q_abs,
                  const std::vector<Real>& k_abs, Real& scale) {
  Real s = 0.0L, sc = 0.0L;
  switch (kernel) {
    case KernelKind::softmax:
    case KernelKind::usa:
    case KernelKind::sigmoid:
    case KernelKind::sinkhorn:
    case KernelKind::hardmax:
      for (std::size_t c = 0; c < q.size(); ++c) {
        s += q[c] * k[c];
        sc += q_abs[c] * k_abs[c];
      }
      scale = fabsl(beta) * sc;
      return beta * s;
    case KernelKind::l2:
      for (std::size_t c = 0; c < q.size(); ++c) {
        s += (q[c] - k[c]) * (q[c] - k[c]);
        sc += (q_abs[c] + k_abs[c]) * (q_abs[c] + k_abs[c]);
      }
      scale = fabsl(beta) * sc;
      return -beta * s;
  }
  unknown_kernel(kernel);
}

/// Sinkhorn scaling of the kernel K_ij = e^{s_ij − M} with masses w (unmasked):
/// a_ij = u_i K_ij w_j v_j with Σ_j a_ij = 1 for every row and Σ_i w_i a_ij = w_j for every massive
/// column, by alternating row and column normalisation until the column error is at long-double
/// round-off (≤ max(10⁻¹⁷, 16 N ε_ld) ≪ float64's u).
/// Returns a (N×N) and fills g_j = log v_j, log_z_i = M − log u_i, the observed rate.
inline std::vector<Real> sinkhorn_plan(const std::vector<Real>& s, const std::vector<char>& live,
                                       const std::vector<double>& w, Index n, HeadResult& r) {
  Real big = -std::numeric_limits<Real>::infinity();
  for (Index p = 0; p < n * n; ++p)
    if (live[p]) big = std::max(big, s[p]);
  std::vector<Real> K(static_cast<std::size_t>(n * n), 0.0L), u(n, 1.0L), v(n, 1.0L);
  for (Index p = 0; p < n * n; ++p)
    if (live[p]) K[p] = expl(s[p] - big);
  Real previous = 0.0L;
  r.sinkhorn_rate = 0.0;
  for (int it = 0;; ++it) {
    if (it == 100000) throw std::runtime_error("dense reference: Sinkhorn did not converge");
    for (Index i = 0; i < n; ++i) {
      Real row = 0.0L;
      for (Index j = 0; j < n; ++j) row += K[i * n + j] * w[j] * v[j];
      u[i] = 1.0L / row;
    }
    Real err = 0.0L;
    std::vector<Real> col(n, 1.0L);
    for (Index j = 0; j < n; ++j) {
      if (w[j] <= 0.0) continue;
      Real c = 0.0L;
      for (Index i = 0; i < n; ++i) c += w[i] * u[i] * K[i * n + j];
      col[j] = v[j] * c;
      err = std::max(err, fabsl(col[j] - 1.0L));
    }
    if (it > 0 && previous > 1e-14L && err > 1e-14L)
      r.sinkhorn_rate = std::max(r.sinkhorn_rate, static_cast<double>(err / previous));
    previous = err;
    // Converged to long-double round-off of an N-term column sum.
    if (err < std::max(1e-17L, 16.0L * n * std::numeric_limits<Real>::epsilon())) break;
    for (Index j = 0; j < n; ++j) v[j] /= col[j];
  }
  std::vector<Real> a(static_cast<std::size_t>(n * n), 0.0L);
  r.g.assign(static_cast<std::size_t>(n), 0.0);
  for (Index j = 0; j < n; ++j)
    if (w[j] > 0.0) r.g[j] = static_cast<double>(logl(v[j]));
  for (Index i = 0; i < n; ++i) {
    r.log_z[i] = static_cast<double>(big - logl(u[i]));
    for (Index j = 0; j < n; ++j) a[i * n + j] = u[i] * K[i * n + j] * w[j] * v[j];
  }
  return a;
}

/// Attention of one head with the model's kernel, β, mask and kernel parameters, over tokens x
/// with masses w and sequence positions pos.
inline HeadResult head(const Model& model, const Head& h, const Matrix& x,
                       const std::vector<double>& w, const std::vector<double>& pos) {
  const KernelKind kernel = model.kernel;
  const bool causal = model.causal;
  const Real beta = model.beta;
  const Index n = x.rows();
  const Index dv = h.V.rows();
  if (kernel == KernelKind::sinkhorn && causal)
    throw std::logic_error("dense reference: a causal plan has no Sinkhorn scaling");
  std::vector<std::vector<Real>> q(n), k(n), u(n), q_abs(n), k_abs(n), u_abs(n);
  for (Index i = 0; i < n; ++i) {
    q[i] = apply(h.Q, x, i);
    k[i] = apply(h.K, x, i);
    u[i] = apply(h.V, x, i);
    q_abs[i] = apply(h.Q, x, i, true);
    k_abs[i] = apply(h.K, x, i, true);
    u_abs[i] = apply(h.V, x, i, true);
  }
  const double bias = sigmoid_bias(model, n);
  HeadResult r;
  for (Index j = 0; j < n; ++j)
    if (w[j] > 0.0)
      r.max_abs_log_weight = std::max(r.max_abs_log_weight, std::fabs(std::log(w[j])));
  if (kernel == KernelKind::sigmoid) r.max_abs_log_weight += std::fabs(bias);

  // The explicit N×N score matrix; live(i, j) says whether the pair contributes at all.
  std::vector<Real> s(static_cast<std::size_t>(n * n), 0.0L);
  std::vector<char> live(static_cast<std::size_t>(n * n), 0);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) {
      Real scale = 0.0L;
      s[i * n + j] = score(kernel, beta, q[i], k[j], q_abs[i], k_abs[j], scale);
      live[i * n + j] = (w[j] > 0.0 && visible(causal, pos[i], pos[j])) ? 1 : 0;
      if (live[i * n + j])
        r.max_score_scale = std::max(r.max_score_scale, static_cast<double>(scale));
    }

  // The attention matrix a_ij (0 where not live) and log Z_i, kernel by kernel.
  r.log_z.assign(static_cast<std::size_t>(n), -std::numeric_limits<double>::infinity());
  std::vector<Real> a(static_cast<std::size_t>(n * n), 0.0L);
  if (kernel == KernelKind::sinkhorn) {
    a = sinkhorn_plan(s, live, w, n, r);
  } else {
    for (Index i = 0; i < n; ++i) {
      Real m = -std::numeric_limits<Real>::infinity();
      for (Index j = 0; j < n; ++j)
        if (live[i * n + j]) m = std::max(m, s[i * n + j]);
      if (m == -std::numeric_limits<Real>::infinity()) continue;  // sees nothing: 0 and −∞
      Real shifted_sum = 0.0L;                                    // Σ_j w_j e^{s_ij − m}
      Real argmax_mass = 0.0L, second = -std::numeric_limits<Real>::infinity();
      Real sigmoid_sum = 0.0L;
      for (Index j = 0; j < n; ++j) {
        if (!live[i * n + j]) continue;
        shifted_sum += static_cast<Real>(w[j]) * expl(s[i * n + j] - m);
        sigmoid_sum += static_cast<Real>(w[j]) * sigmoid_weight(s[i * n + j], bias);
        if (s[i * n + j] == m)
          argmax_mass += w[j];
        else
          second = std::max(second, s[i * n + j]);
      }
      for (Index j = 0; j < n; ++j) {
        if (!live[i * n + j]) continue;
        const Real wj = static_cast<Real>(w[j]);
        const Real sij = s[i * n + j];
        switch (kernel) {
          case KernelKind::softmax:  // w_j e^{s_ij} / Σ_k w_k e^{s_ik}, max-shifted
          case KernelKind::l2:       // the same with s_ij = −β‖q_i − k_j‖²
            a[i * n + j] = wj * expl(sij - m) / shifted_sum;
            r.log_z[i] = static_cast<double>(m + logl(shifted_sum));
            break;
          case KernelKind::usa:  // w_j e^{s_ij}, exponentiated directly (long double range)
            a[i * n + j] = wj * expl(sij);
            r.log_z[i] = static_cast<double>(m + logl(shifted_sum));
            break;
          case KernelKind::sigmoid:  // w_j e^{−b} σ(s_ij + b), not normalised
            a[i * n + j] = wj * sigmoid_weight(sij, bias);
            r.log_z[i] = static_cast<double>(logl(sigmoid_sum));
            break;
          case KernelKind::hardmax:  // w_j / (argmax mass) on argmax_j s_ij, exact ties share
            a[i * n + j] = sij == m ? wj / argmax_mass : 0.0L;
            r.log_z[i] = static_cast<double>(m + logl(argmax_mass));
            r.min_argmax_gap = std::min(r.min_argmax_gap, static_cast<double>(m - second));
            break;
          case KernelKind::sinkhorn:  // handled above
            break;
        }
      }
    }
  }

  r.y = Matrix::Zero(n, dv);
  r.y_abs = Matrix::Zero(n, dv);
  for (Index i = 0; i < n; ++i) {
    std::vector<Real> acc(static_cast<std::size_t>(dv), 0.0L), acc_abs(acc);
    for (Index j = 0; j < n; ++j) {
      if (!live[i * n + j]) continue;
      for (Index c = 0; c < dv; ++c) {
        acc[c] += a[i * n + j] * u[j][c];
        acc_abs[c] += fabsl(a[i * n + j]) * u_abs[j][c];
      }
    }
    for (Index c = 0; c < dv; ++c) {
      r.y(i, c) = static_cast<double>(acc[c]);
      r.y_abs(i, c) = static_cast<double>(acc_abs[c]);
    }
  }
  return r;
}

/// The multi-head field v_i = Σ_h W_h Σ_j a^h_ij V_h x_j, with its conditioning data.
struct FieldResult {
  Matrix v;      ///< N×d
  Matrix v_abs;  ///< N×d: Σ_h |W_h| y_abs_h, the scale each output entry is summed at
  std::vector<HeadResult> heads;
  double max_score_scale = 0.0;     ///< over all heads
  double max_abs_log_weight = 0.0;  ///< over all heads
  double min_argmax_gap = std::numeric_limits<double>::infinity();
  double sinkhorn_rate = 0.0;  ///< the slowest head
};

inline FieldResult field(const Model& model, const Matrix& x, const std::vector<double>& w,
                         const std::vector<double>& pos) {
  const Index n = x.rows();
  const Index d = x.cols();
  FieldResult f;
  std::vector<Real> v(static_cast<std::size_t>(n * d), 0.0L), v_abs(v);
  for (const Head& h : model.heads) {
    HeadResult r = head(model, h, x, w, pos);
    f.max_score_scale = std::max(f.max_score_scale, r.max_score_scale);
    f.max_abs_log_weight = std::max(f.max_abs_log_weight, r.max_abs_log_weight);
    f.min_argmax_gap = std::min(f.min_argmax_gap, r.min_argmax_gap);
    f.sinkhorn_rate = std::max(f.sinkhorn_rate, r.sinkhorn_rate);
    for (Index i = 0; i < n; ++i)
      for (Index row = 0; row < d; ++row) {
        if (h.W.size() == 0) {
          v[i * d + row] += r.y(i, row);
          v_abs[i * d + row] += r.y_abs(i, row);
        } else {
          for (Index c = 0; c < h.W.cols(); ++c) {
            v[i * d + row] += static_cast<Real>(h.W(row, c)) * r.y(i, c);
            v_abs[i * d + row] += fabsl(static_cast<Real>(h.W(row, c))) * r.y_abs(i, c);
          }
        }
      }
    f.heads.push_back(std::move(r));
  }
  f.v.resize(n, d);
  f.v_abs.resize(n, d);
  for (Index i = 0; i < n * d; ++i) {
    f.v.data()[i] = static_cast<double>(v[i]);
    f.v_abs.data()[i] = static_cast<double>(v_abs[i]);
  }
  return f;
}

/// The field with one softmax shared by all heads (model.head_normalization = shared):
/// v_i = Σ_h W_h Σ_j w_j e^{s^h_ij} V_h x_j / Σ_h Σ_j w_j e^{s^h_ij}, from the explicit scores of
/// every (head, key) pair, shifted by their row maximum over all heads (softmax / l2 only).
inline Matrix shared_softmax_field(const Model& model, const Matrix& x,
                                   const std::vector<double>& w, const std::vector<double>& pos) {
  const Index n = x.rows();
  const Index d = x.cols();
  Matrix out(n, d);
  for (Index i = 0; i < n; ++i) {
    std::vector<Real> s, p;  // (head, key) pairs in order
    Real m = -std::numeric_limits<Real>::infinity();
    for (const Head& h : model.heads) {
      const std::vector<Real> q = apply(h.Q, x, i), q_abs = apply(h.Q, x, i, true);
      for (Index j = 0; j < n; ++j) {
        Real scale = 0.0L;
        const Real sij = score(model.kernel, model.beta, q, apply(h.K, x, j), q_abs,
                               apply(h.K, x, j, true), scale);
        const bool live = visible(model.causal, pos[static_cast<std::size_t>(i)],
                                  pos[static_cast<std::size_t>(j)]) &&
                          w[static_cast<std::size_t>(j)] > 0.0;
        s.push_back(live ? sij : -std::numeric_limits<Real>::infinity());
        if (live) m = std::max(m, sij);
      }
    }
    Real z = 0.0L;
    for (std::size_t k = 0; k < s.size(); ++k) {  // pair k is key k mod n
      p.push_back(s[k] == -std::numeric_limits<Real>::infinity() ? 0.0L : expl(s[k] - m));
      z += static_cast<Real>(w[k % static_cast<std::size_t>(n)]) * p.back();
    }
    std::vector<Real> v(static_cast<std::size_t>(d), 0.0L);
    std::size_t pair = 0;
    for (const Head& h : model.heads) {
      std::vector<Real> y(static_cast<std::size_t>(h.V.rows()), 0.0L);
      for (Index j = 0; j < n; ++j, ++pair) {
        if (p[pair] == 0.0L) continue;
        const std::vector<Real> vx = apply(h.V, x, j);
        for (std::size_t c = 0; c < y.size(); ++c)
          y[c] += static_cast<Real>(w[static_cast<std::size_t>(j)]) * p[pair] * vx[c];
      }
      for (Index row = 0; row < d; ++row) {
        if (h.W.size() == 0) {
          v[static_cast<std::size_t>(row)] += y[static_cast<std::size_t>(row)];
        } else {
          for (Index c = 0; c < h.W.cols(); ++c)
            v[static_cast<std::size_t>(row)] +=
                static_cast<Real>(h.W(row, c)) * y[static_cast<std::size_t>(c)];
        }
      }
    }
    for (Index row = 0; row < d; ++row)
      out(i, row) = z > 0.0L ? static_cast<double>(v[static_cast<std::size_t>(row)] / z) : 0.0;
  }
  return out;
}

/// Σ_h Σ_i Σ_j w_i w_j e^{β⟨Q_h x_i, K_h x_j⟩} (no mask), directly exponentiated in long double.
inline Real energy_double_sum(const Model& model, const Matrix& x, const std::vector<double>& w) {
  const Index n = x.rows();
  Real total = 0.0L;
  for (const Head& h : model.heads) {
    for (Index i = 0; i < n; ++i) {
      const std::vector<Real> qi = apply(h.Q, x, i);
      for (Index j = 0; j < n; ++j) {
        const std::vector<Real> kj = apply(h.K, x, j);
        Real dot = 0.0L;
        for (std::size_t c = 0; c < qi.size(); ++c) dot += qi[c] * kj[c];
        total += static_cast<Real>(w[i]) * w[j] * expl(static_cast<Real>(model.beta) * dot);
      }
    }
  }
  return total;
}

/// Σ_i Σ_j w_i w_j e^{β(⟨x_i, x_j⟩ − 1)}.
inline Real normalized_energy(double beta, const Matrix& x, const std::vector<double>& w) {
  const Index n = x.rows();
  Real total = 0.0L;
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) {
      Real dot = 0.0L;
      for (Index c = 0; c < x.cols(); ++c) dot += static_cast<Real>(x(i, c)) * x(j, c);
      total += static_cast<Real>(w[i]) * w[j] * expl(static_cast<Real>(beta) * (dot - 1.0L));
    }
  return total;
}

/// P⊥_{x_i} v_i = v_i − ⟨x_i, v_i⟩ x_i row by row, in long double.
inline Matrix project_tangent(const Matrix& x, const Matrix& v) {
  Matrix out(v.rows(), v.cols());
  for (Index i = 0; i < v.rows(); ++i) {
    Real c = 0.0L;
    for (Index a = 0; a < v.cols(); ++a) c += static_cast<Real>(x(i, a)) * v(i, a);
    for (Index a = 0; a < v.cols(); ++a)
      out(i, a) = static_cast<double>(static_cast<Real>(v(i, a)) - c * x(i, a));
  }
  return out;
}

}  // namespace dense
