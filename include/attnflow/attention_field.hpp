#pragma once
// The attention field A(x)_i = Σ_h W_h Σ_j a^h_ij V_h x_j of a model ([C] multi-head, SPEC §1),
// evaluated by the streaming engine, with one softmax per head or one shared by all heads
// (model.head_normalization), in the model's precision (model.precision: float64, or the float32
// engine with double outputs). Geometry is applied by the caller (dynamics.hpp).
#include <vector>

#include "attnflow/attention_tables.hpp"
#include "attnflow/head_tables.hpp"
#include "attnflow/model.hpp"
#include "attnflow/sinkhorn.hpp"

namespace attnflow {

/// Evaluates A(x) for a fixed model, token masses and sequence positions, reusing its buffers.
class AttentionField {
 public:
  AttentionField(Model model, std::vector<double> weights, std::vector<double> positions);

  /// out = A(x) (N×d), before any geometric projection.
  void evaluate(const Matrix& x, Matrix& out);

  /// Sets the weights to their values at time t when the model has a schedule ([M]); a no-op for
  /// constant weights.
  void set_time(double t);

  const Model& model() const { return model_; }
  const std::vector<double>& weights() const { return weights_; }
  const std::vector<double>& positions() const { return positions_; }

  /// The bias σ(s + b) uses: model.sigmoid_bias, or −log N when it is NaN.
  double sigmoid_bias() const { return sigmoid_bias_; }
  /// Sinkhorn kernels: the worst report over the heads of the last evaluate().
  const SinkhornReport& last_sinkhorn() const { return last_sinkhorn_; }

 private:
  /// head_out_ = the head's normalised output y_i = Σ_j a_ij V x_j; log_z (if not null): log Z_i.
  void evaluate_head(const Head& head, const Matrix& x, double* log_z = nullptr);
  /// out_i += scale_i · W_h y_i for a head's outputs y (scale null: 1).
  void add_head_output(const Head& head, const double* y, const double* scale, Matrix& out) const;
  /// Tests every head's Q, K, V for the identity (at construction and when a schedule changed
  /// them), so that evaluations do not repeat the d² test (head_tables.hpp).
  void classify_projections();

  Model model_;
  std::vector<double> weights_;
  std::vector<double> positions_;
  double sigmoid_bias_ = 0.0;
  QueryTable queries_, col_queries_;
  KeyTable keys_, col_keys_;
  QueryTable32 queries32_;  ///< model.precision = float32: the engine's float tables
  KeyTable32 keys32_;
  std::vector<double> head_out_, log_z_, f_, g_;
  std::vector<std::vector<double>> shared_out_, shared_log_z_;  ///< shared softmax: every head
  std::vector<double> scale_;
  SinkhornReport last_sinkhorn_;
  struct ProjectionKinds {
    Projection q, k, v;
  };
  std::vector<ProjectionKinds> kinds_;  ///< per head
};

}  // namespace attnflow
