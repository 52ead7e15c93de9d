#pragma once
// A flow's path parametrised by its arc length: dx/ds = F(x) / ‖F(x)‖_w with
// ‖F‖²_w = Σ_i w_i |F_i|². For particles with masses w this is the Wasserstein arc length
// (SA / USA with symmetric weights are Wasserstein gradient flows, [R] §3), and the step → 0
// limit of the normalised-gradient iteration x ← x + η F/‖F‖ that [R] §5.2 (after
// Geshkovski–Koubbi–Polyanskiy–Rigollet 2024) uses to draw the metastable staircase: metastable
// plateaus of length ~e^{β(1 − cos g)} in t take an arc length of order g in s, so the whole
// staircase is affordable at any β.
#include <cstdint>
#include <vector>

#include "attnflow/ode_system.hpp"

namespace attnflow {

/// Wraps an autonomous system (F must not depend on t: the inner flow is evaluated at t = 0,
/// since s does not determine t). Where F = 0 the path has ended and the state stays put.
/// Retraction, interval hooks and the evaluation count are the inner system's.
class ArcLengthFlow : public OdeSystem {
 public:
  /// weights: the masses w_i of the rows of the state (sum 1 for a probability measure).
  ArcLengthFlow(OdeSystem& flow, std::vector<double> weights);

  /// v = F(x) / ‖F(x)‖_w (0 where F(x) = 0).
  void velocity(double s, const Matrix& x, Matrix& v) override;
  void begin_interval(double s0, double s1) override { flow_.begin_interval(s0, s1); }
  void retract(Matrix& x) override { flow_.retract(x); }
  std::uint64_t evaluations() const override { return flow_.evaluations(); }

  /// ‖F(x)‖_w at the state of the last velocity() call: the flow's speed, ds/dt.
  double last_speed() const { return last_speed_; }

 private:
  OdeSystem& flow_;
  std::vector<double> weights_;
  double last_speed_ = 0.0;
};

/// ‖v‖_w = (Σ_i w_i |v_i|²)^{1/2}, rows v_i, scaled by max|v| so that speeds far below
/// 1e-154 (plateaus at large β) do not underflow when squared.
double weighted_norm(const Matrix& v, const std::vector<double>& weights);

}  // namespace attnflow
