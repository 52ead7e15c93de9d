#pragma once
// Time integrators and the run loop. Integrators do no I/O: the caller's observer sees the state at
// every requested output time, which is hit exactly (DESIGN principle 5).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "attnflow/ode_system.hpp"
#include "attnflow/quadrature.hpp"

namespace attnflow {

/// The integration schemes.
enum class Method {
  euler,   ///< the system's Euler step; for particles the discrete transformer layer
  rk4,     ///< classical Runge–Kutta on ẋ = F(t, x), retracted after each step
  dopri5,  ///< adaptive Dormand–Prince 5(4) with rtol/atol, retracted after each accepted step
};

/// Integration settings.
struct IntegrateOptions {
  Method method = Method::rk4;
  double dt = 0.1;      ///< step (euler, rk4); initial step hint (dopri5, 0 = automatic)
  double rtol = 1e-8;   ///< dopri5 relative tolerance
  double atol = 1e-10;  ///< dopri5 absolute tolerance
  std::uint64_t max_steps = 100'000'000;  ///< guard against a step size that collapses
};

/// What an integration did.
struct IntegrateStats {
  std::uint64_t steps = 0;     ///< accepted steps
  std::uint64_t rejected = 0;  ///< rejected dopri5 steps
  std::uint64_t evaluations = 0;
};

/// Called at every output time with its index, the time and the state.
using Observer = std::function<void(std::size_t, double, const Matrix&)>;

/// Integrates x from times.front() through every output time (sorted, non-decreasing), calling
/// observe at each one, the first included. Fixed-step methods take steps of dt, shrunk uniformly
/// within an output interval whose length is not a multiple of dt, so outputs are hit exactly.
/// Throws NumericalError if the state stops being finite; frames already observed stay valid.
/// quadrature (optional): a scalar integrated with the same stages (quadrature.hpp); its value at
/// each output time is current when observe is called. With euler it costs one extra evaluation of
/// F per step (the discrete layer does not expose F).
IntegrateStats integrate(OdeSystem& system, Matrix& x, const std::vector<double>& times,
                         const IntegrateOptions& options, const Observer& observe,
                         Quadrature* quadrature = nullptr);

/// "euler" / "rk4" / "dopri5".
std::string_view method_name(Method method);

/// Looks a method up by name; throws InputError(key, "... allowed: euler, rk4, dopri5").
Method method_from_name(std::string_view name, const std::string& key);

}  // namespace attnflow
