#pragma once
// An independent, deliberately simple O(N²) reference for the attention engine and the energies.
//
// Nothing here shares code with src/: the N×N score matrix is built explicitly, every quantity is
// computed in long double (64-bit mantissa on x86-64, exponent range up to e^{11356}), softmax rows
// are max-shifted explicitly, and the unnormalised kernel exponentiates directly. There is no online
// softmax, no SoA layout, no blocking and no threading. The only inputs taken from attnflow are the
// plain data types (Model, Head, Matrix).
//
// Conventions mirrored from the documented contract (normalization.hpp): a query that sees no key
// with positive mass gets the output 0 and log Z = −∞.
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
/// added here (and the switch below stops compiling under -Wswitch -Werror before that).
inline Real unknown_kernel(KernelKind kernel) {
  throw std::logic_error("dense reference: unknown KernelKind " +
                         std::to_string(static_cast<int>(kernel)) +
                         "; implement it in tests/dense_reference.hpp");
}

/// a_ij of the SPEC §1 table from w_j, s_ij, the row maximum m_i and Σ_k w_k e^{s_ik − m_i}.
/// No default case: adding a KernelKind makes this switch fail to compile (-Wswitch, -Werror), and
/// an out-of-range value reaching it at run time throws.
inline Real kernel_weight(KernelKind kernel, Real w, Real s, Real m, Real shifted_sum) {
  switch (kernel) {
    case KernelKind::softmax:  // w_j e^{s_ij} / Σ_k w_k e^{s_ik}, max-shifted
      return w * expl(s - m) / shifted_sum;
    case KernelKind::usa:  // w_j e^{s_ij}, exponentiated directly (long double range)
      return w * expl(s);
  }
  return unknown_kernel(kernel);
}

/// One head evaluated densely.
struct HeadResult {
  Matrix y;                   ///< N×dv: Σ_j a_ij V x_j
  Matrix y_abs;  ///< N×dv: Σ_j |a_ij| (|V| |x_j|), the conditioning scale of each sum
  std::vector<double> log_z;  ///< log Σ_{j visible} w_j e^{s_ij} (−∞ when no visible key has mass)
  /// max over contributing pairs of β Σ_c (|Q||x_i|)_c (|K||x_j|)_c: bounds |s_ij| and scales the
  /// rounding error of s_ij as the engine forms it (q = Qx, k = Kx, then the dot product).
  double max_score_scale = 0.0;
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

/// Attention of one head with the given kernel, β and mask, over tokens x with masses w.
inline HeadResult head(KernelKind kernel, double beta, const Head& h, const Matrix& x,
                       const std::vector<double>& w, const std::vector<double>& pos, bool causal) {
  const Index n = x.rows();
  const Index dv = h.V.rows();
  std::vector<std::vector<Real>> q(n), k(n), u(n), q_abs(n), k_abs(n), u_abs(n);
  for (Index i = 0; i < n; ++i) {
    q[i] = apply(h.Q, x, i);
    k[i] = apply(h.K, x, i);
    u[i] = apply(h.V, x, i);
    q_abs[i] = apply(h.Q, x, i, true);
    k_abs[i] = apply(h.K, x, i, true);
    u_abs[i] = apply(h.V, x, i, true);
  }
  // The explicit N×N score matrix; live(i, j) says whether the pair contributes at all.
  std::vector<Real> s(static_cast<std::size_t>(n * n), 0.0L);
  std::vector<char> live(static_cast<std::size_t>(n * n), 0);
  HeadResult r;
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) {
      Real dot = 0.0L, dot_abs = 0.0L;
      for (std::size_t c = 0; c < q[i].size(); ++c) {
        dot += q[i][c] * k[j][c];
        dot_abs += q_abs[i][c] * k_abs[j][c];
      }
      s[i * n + j] = static_cast<Real>(beta) * dot;
      live[i * n + j] = (w[j] > 0.0 && visible(causal, pos[i], pos[j])) ? 1 : 0;
      if (live[i * n + j])
        r.max_score_scale = std::max(r.max_score_scale, static_cast<double>(fabsl(beta * dot_abs)));
    }
  r.y = Matrix::Zero(n, dv);
  r.y_abs = Matrix::Zero(n, dv);
  r.log_z.assign(static_cast<std::size_t>(n), -std::numeric_limits<double>::infinity());
  for (Index i = 0; i < n; ++i) {
    Real m = -std::numeric_limits<Real>::infinity();
    for (Index j = 0; j < n; ++j)
      if (live[i * n + j]) m = std::max(m, s[i * n + j]);
    if (m == -std::numeric_limits<Real>::infinity()) continue;  // sees nothing: 0 and −∞
    Real shifted_sum = 0.0L;  // Σ_j w_j e^{s_ij − m}
    for (Index j = 0; j < n; ++j)
      if (live[i * n + j]) shifted_sum += static_cast<Real>(w[j]) * expl(s[i * n + j] - m);
    r.log_z[i] = static_cast<double>(m + logl(shifted_sum));
    std::vector<Real> acc(static_cast<std::size_t>(dv), 0.0L), acc_abs(acc);
    for (Index j = 0; j < n; ++j) {
      if (!live[i * n + j]) continue;
      const Real wj = static_cast<Real>(w[j]);
      const Real a = kernel_weight(kernel, wj, s[i * n + j], m, shifted_sum);
      for (Index c = 0; c < dv; ++c) {
        acc[c] += a * u[j][c];
        acc_abs[c] += fabsl(a) * u_abs[j][c];
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
  Matrix v;                    ///< N×d
  Matrix v_abs;                ///< N×d: Σ_h |W_h| y_abs_h, the scale each output entry is summed at
  std::vector<HeadResult> heads;
  double max_score_scale = 0.0;  ///< over all heads
};

inline FieldResult field(const Model& model, const Matrix& x, const std::vector<double>& w,
                         const std::vector<double>& pos) {
  const Index n = x.rows();
  const Index d = x.cols();
  FieldResult f;
  std::vector<Real> v(static_cast<std::size_t>(n * d), 0.0L), v_abs(v);
  for (const Head& h : model.heads) {
    HeadResult r = head(model.kernel, model.beta, h, x, w, pos, model.causal);
    f.max_score_scale = std::max(f.max_score_scale, r.max_score_scale);
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
