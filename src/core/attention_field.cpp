#include "attnflow/attention_field.hpp"

#include "attnflow/dispatch.hpp"
#include "attnflow/head_tables.hpp"

namespace attnflow {

AttentionField::AttentionField(Model model, std::vector<double> weights, std::vector<double> positions)
    : model_(std::move(model)), weights_(std::move(weights)), positions_(std::move(positions)) {}

void AttentionField::evaluate(const Matrix& x, Matrix& out) {
  const Index n = x.rows();
  const Index d = x.cols();
  out.setZero(n, d);
  for (const Head& head : model_.heads) {
    const Index dv = head.V.rows();
    fill_queries(head.Q, x, positions_, queries_);
    fill_keys(head.K, &head.V, x, weights_, positions_, keys_);
    head_out_.resize(static_cast<std::size_t>(n * dv));
    attend(model_.kernel, model_.causal, model_.beta, queries_, keys_,
           AttentionOutput{head_out_.data(), nullptr});
    // out_i += W_h y_i (W_h = I when absent); heads are added in order, so the sum is deterministic.
    const bool identity = head.W.size() == 0;
#pragma omp parallel for schedule(static)
    for (Index i = 0; i < n; ++i) {
      const double* y = head_out_.data() + i * dv;
      double* o = out.data() + i * d;
      if (identity) {
        for (Index c = 0; c < d; ++c) o[c] += y[c];
      } else {
        for (Index r = 0; r < d; ++r) {
          const double* w = head.W.data() + r * dv;
          double s = 0.0;
          for (Index c = 0; c < dv; ++c) s += w[c] * y[c];
          o[r] += s;
        }
      }
    }
  }
}

}  // namespace attnflow
