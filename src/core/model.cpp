#include "attnflow/model.hpp"

#include <cmath>
#include <string>

#include "attnflow/error.hpp"

namespace attnflow {

Model identity_model(Index d, double beta, KernelKind kernel, Geometry geometry) {
  Model m;
  m.geometry = geometry;
  m.kernel = kernel;
  m.beta = beta;
  m.heads.push_back(
      Head{Matrix::Identity(d, d), Matrix::Identity(d, d), Matrix::Identity(d, d), Matrix()});
  return m;
}

Normalization effective_normalization(const Model& model) {
  if (model.normalization != Normalization::from_geometry) return model.normalization;
  return model.geometry == Geometry::sphere ? Normalization::post_ln : Normalization::none;
}

std::string_view normalization_name(Normalization normalization) {
  switch (normalization) {
    case Normalization::from_geometry:
      return "from_geometry";
    case Normalization::none:
      return "none";
    case Normalization::post_ln:
      return "post_ln";
    case Normalization::pre_ln:
      return "pre_ln";
    case Normalization::mix_ln:
      return "mix_ln";
    case Normalization::peri_ln:
      return "peri_ln";
    case Normalization::ngpt:
      return "ngpt";
    case Normalization::sqrt_scaling:
      return "sqrt_scaling";
  }
  return "none";
}

Normalization normalization_from_name(std::string_view name, const std::string& key) {
  for (Normalization n :
       {Normalization::none, Normalization::post_ln, Normalization::pre_ln, Normalization::mix_ln,
        Normalization::peri_ln, Normalization::ngpt, Normalization::sqrt_scaling})
    if (normalization_name(n) == name) return n;
  std::string message = "unknown scheme '";
  message += name;
  message += "'; allowed: none, post_ln, pre_ln, mix_ln, peri_ln, ngpt, sqrt_scaling";
  throw InputError(key, message);
}

std::string_view head_normalization_name(HeadNormalization h) {
  return h == HeadNormalization::shared ? "shared" : "per_head";
}

HeadNormalization head_normalization_from_name(std::string_view name, const std::string& key) {
  for (HeadNormalization h : {HeadNormalization::per_head, HeadNormalization::shared})
    if (head_normalization_name(h) == name) return h;
  throw InputError(
      key, "unknown head normalization '" + std::string(name) + "'; allowed: per_head, shared");
}

Index model_dimension(const Model& model) {
  return model.heads.empty() ? 0 : model.heads.front().Q.cols();
}

namespace {

std::string shape(const Matrix& m) {
  return std::to_string(m.rows()) + "x" + std::to_string(m.cols());
}

void require_finite(const Matrix& m, const std::string& key) {
  if (!m.allFinite()) throw InputError(key, "all entries must be finite numbers");
}

}  // namespace

std::string_view precision_name(Precision p) {
  return p == Precision::float32 ? "float32" : "float64";
}

Precision precision_from_name(std::string_view name, const std::string& key) {
  for (Precision p : {Precision::float64, Precision::float32})
    if (precision_name(p) == name) return p;
  throw InputError(key, "unknown precision '" + std::string(name) + "'; allowed: float64, float32");
}

void validate_model(const Model& model, Index d, bool heads_listed) {
  if (!std::isfinite(model.beta) || model.beta <= 0.0)
    throw InputError("model.beta", "must be finite and > 0, got " + format_number(model.beta));
  if (model.heads.empty()) throw InputError("model.heads", "at least one head is required");
  if (std::isinf(model.sigmoid_bias))
    throw InputError("model.sigmoid_bias",
                     "must be a finite number, got " + format_number(model.sigmoid_bias));
  if (model.sinkhorn_iters < 1)
    throw InputError("model.sinkhorn_iters", "must be at least 1 (1 = softmax), got " +
                                                 std::to_string(model.sinkhorn_iters));
  if (!std::isfinite(model.sinkhorn_tol) || model.sinkhorn_tol <= 0.0)
    throw InputError("model.sinkhorn_tol",
                     "must be finite and > 0, got " + format_number(model.sinkhorn_tol));
  if (model.geometry == Geometry::sphere && effective_normalization(model) == Normalization::none)
    throw InputError("model.normalization",
                     "'none' leaves the sphere; use geometry = \"euclidean\" for no normalisation");
  if (model.geometry == Geometry::euclidean &&
      effective_normalization(model) == Normalization::post_ln)
    throw InputError("model.normalization",
                     "'post_ln' keeps tokens on the sphere; use geometry = \"sphere\"");
  if (!std::isfinite(model.mix_tau) || model.mix_tau < 0.0)
    throw InputError("model.mix_tau",
                     "must be finite and >= 0, got " + format_number(model.mix_tau));
  if (!std::isfinite(model.ngpt_alpha) || model.ngpt_alpha <= 0.0)
    throw InputError("model.ngpt_alpha",
                     "must be finite and > 0, got " + format_number(model.ngpt_alpha));
  if (!std::isfinite(model.noise) || model.noise < 0.0)
    throw InputError("model.noise", "must be finite and >= 0 (the temperature 1/kappa), got " +
                                        format_number(model.noise));
  if (model.head_normalization == HeadNormalization::shared &&
      model.kernel != KernelKind::softmax && model.kernel != KernelKind::l2)
    throw InputError("model.head_normalization",
                     "'shared' normalises one softmax over all heads and needs kernel softmax or "
                     "l2, got '" +
                         std::string(model.kernel == KernelKind::usa        ? "usa"
                                     : model.kernel == KernelKind::sigmoid  ? "sigmoid"
                                     : model.kernel == KernelKind::sinkhorn ? "sinkhorn"
                                                                            : "hardmax") +
                         "'");
  if (model.precision == Precision::float32 && model.kernel == KernelKind::sinkhorn)
    throw InputError("model.precision",
                     "'float32' is not available with the sinkhorn kernel (its potentials are "
                     "iterated to model.sinkhorn_tol in float64); use float64");
  if (model.kernel == KernelKind::sinkhorn && model.causal)
    throw InputError("model.causal",
                     "the sinkhorn kernel cannot be masked: a causal plan has no doubly "
                     "stochastic scaling ([C] defines Sinkhorn attention unmasked); "
                     "use softmax, usa, l2, sigmoid or hardmax with causal = true");
  for (std::size_t h = 0; h < model.heads.size(); ++h) {
    const Head& head = model.heads[h];
    const std::string key = (model.heads.size() == 1 && !heads_listed)
                                ? std::string("model")
                                : "model.heads[" + std::to_string(h) + "]";
    if (head.Q.cols() != d)
      throw InputError(key + ".Q",
                       "must have d = " + std::to_string(d) + " columns, got " + shape(head.Q));
    if (head.K.cols() != d)
      throw InputError(key + ".K",
                       "must have d = " + std::to_string(d) + " columns, got " + shape(head.K));
    if (head.K.rows() != head.Q.rows() || head.Q.rows() == 0)
      throw InputError(key + ".K", "must have as many rows as Q (" + std::to_string(head.Q.rows()) +
                                       "), got " + shape(head.K));
    if (head.V.cols() != d || head.V.rows() == 0)
      throw InputError(key + ".V",
                       "must have d = " + std::to_string(d) + " columns, got " + shape(head.V));
    if (head.W.size() == 0) {
      if (head.V.rows() != d)
        throw InputError(key + ".V", "must be " + std::to_string(d) + "x" + std::to_string(d) +
                                         " when no output matrix W is given, got " + shape(head.V));
    } else if (head.W.rows() != d || head.W.cols() != head.V.rows()) {
      throw InputError(key + ".W", "must be " + std::to_string(d) + "x" +
                                       std::to_string(head.V.rows()) + " (d x rows of V), got " +
                                       shape(head.W));
    }
    require_finite(head.Q, key + ".Q");
    require_finite(head.K, key + ".K");
    require_finite(head.V, key + ".V");
    require_finite(head.W, key + ".W");
  }
}

void apply_schedule(Model& model, double t) {
  if (!model.schedule) return;
  const ModelSchedule& s = *model.schedule;
  model.beta = s.beta.at(t)(0, 0);
  for (std::size_t h = 0; h < model.heads.size(); ++h) {
    Head& head = model.heads[h];
    const HeadSchedule& hs = s.heads[h];
    auto assign = [t](Matrix& m, const MatrixSchedule& schedule, const Matrix& offset) {
      if (schedule.is_constant()) return;
      m = schedule.at(t);
      if (offset.size() > 0) m += offset;
    };
    static const HeadOffsets kNone{};
    const HeadOffsets& off = s.offsets.empty() ? kNone : s.offsets[h];
    assign(head.Q, hs.Q, off.Q);
    assign(head.K, hs.K, off.K);
    assign(head.V, hs.V, off.V);
    assign(head.W, hs.W, off.W);
  }
}

}  // namespace attnflow
