#pragma once
// The attention field A(x)_i = Σ_h W_h Σ_j a^h_ij V_h x_j of a model ([C] multi-head, SPEC §1),
// evaluated by the streaming engine. Geometry is applied by the caller (dynamics.hpp).
#include <vector>

#include "attnflow/attention_tables.hpp"
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
  void evaluate_head(const Head& head, const Matrix& x);

  Model model_;
  std::vector<double> weights_;
  std::vector<double> positions_;
  double sigmoid_bias_ = 0.0;
  QueryTable queries_, col_queries_;
  KeyTable keys_, col_keys_;
  std::vector<double> head_out_, log_z_, f_, g_;
  SinkhornReport last_sinkhorn_;
};

}  // namespace attnflow
