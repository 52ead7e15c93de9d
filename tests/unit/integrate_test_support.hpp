#pragma once
// Helpers shared by the tests that integrate ODEs (particles and reduced models).
#include <vector>

#include "attnflow/integrator.hpp"

namespace attnflow::test {

/// dopri5 with the given tolerances (the tests' reference-accuracy integrations).
inline IntegrateOptions dopri5_options(double rtol, double atol) {
  IntegrateOptions o;
  o.method = Method::dopri5;
  o.dt = 0.0;
  o.rtol = rtol;
  o.atol = atol;
  return o;
}

/// steps + 1 equally spaced output times on [0, t_end].
inline std::vector<double> grid(double t_end, int steps) {
  std::vector<double> t;
  for (int k = 0; k <= steps; ++k) t.push_back(t_end * k / steps);
  return t;
}

}  // namespace attnflow::test
