#include "attnflow/integrator.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "attnflow/error.hpp"

namespace attnflow {

namespace {

std::string time_text(double t) {
  std::ostringstream s;
  s.precision(10);
  s << t;
  return s.str();
}

/// Whether every entry is finite: no exponent field all ones. One OR over the bit patterns, which
/// vectorises (Eigen's allFinite() evaluates x − x == x − x with an early exit per packet, ~5 % of
/// a small system's Euler step at n = 32, d = 128).
bool all_finite(const Matrix& x) {
  constexpr std::uint64_t kExponent = 0x7ff0000000000000ULL;
  const double* p = x.data();
  std::uint64_t non_finite = 0;
  for (Index i = 0; i < x.size(); ++i)
    non_finite |=
        static_cast<std::uint64_t>((std::bit_cast<std::uint64_t>(p[i]) & kExponent) == kExponent);
  return non_finite == 0;
}

void check_finite(const Matrix& x, double t) {
  if (!all_finite(x))
    throw NumericalError("integrate: the state became non-finite (NaN or infinity) at t = " +
                         time_text(t) + "; use a smaller integrate.dt or tighter tolerances");
}

/// Explicit Euler / classical RK4 with a given step.
class FixedStepper {
 public:
  FixedStepper(Method method, Quadrature* quadrature) : method_(method), quad_(quadrature) {}

  void step(OdeSystem& dyn, double t, Matrix& x, double h) {
    const double mid = t + 0.5 * h;
    if (method_ == Method::euler) {
      if (quad_ != nullptr) {  // I += h q(t, x): explicit Euler on the augmented state
        dyn.velocity(t, x, k1_);
        quad_->value += h * quad_->integrand(t, x, k1_, mid);
      }
      dyn.euler_step(t, x, h, k1_);
    } else {
      double q = 0.0;
      dyn.velocity(t, x, k1_);
      if (quad_ != nullptr) q += quad_->integrand(t, x, k1_, mid);
      tmp_ = x + (0.5 * h) * k1_;
      dyn.velocity(mid, tmp_, k2_);
      if (quad_ != nullptr) q += 2.0 * quad_->integrand(mid, tmp_, k2_, mid);
      tmp_ = x + (0.5 * h) * k2_;
      dyn.velocity(mid, tmp_, k3_);
      if (quad_ != nullptr) q += 2.0 * quad_->integrand(mid, tmp_, k3_, mid);
      tmp_ = x + h * k3_;
      dyn.velocity(t + h, tmp_, k4_);
      if (quad_ != nullptr)
        quad_->value += (h / 6.0) * (q + quad_->integrand(t + h, tmp_, k4_, mid));
      x += (h / 6.0) * (k1_ + 2.0 * k2_ + 2.0 * k3_ + k4_);
      dyn.retract(x);
    }
  }

 private:
  Method method_;
  Quadrature* quad_;
  Matrix k1_, k2_, k3_, k4_, tmp_;
};

IntegrateStats integrate_fixed(OdeSystem& dyn, Matrix& x, const std::vector<double>& times,
                               const IntegrateOptions& opt, const Observer& observe,
                               Quadrature* quad) {
  IntegrateStats stats;
  FixedStepper stepper(opt.method, quad);
  observe(0, times.front(), x);
  for (std::size_t k = 1; k < times.size(); ++k) {
    const double t0 = times[k - 1];
    const double span = times[k] - t0;
    dyn.begin_interval(t0, times[k]);
    const auto n = static_cast<std::uint64_t>(std::max(0.0, std::ceil(span / opt.dt - 1e-9)));
    const double h = n > 0 ? span / static_cast<double>(n) : 0.0;
    for (std::uint64_t s = 0; s < n; ++s) {
      const double t = t0 + static_cast<double>(s) * h;
      stepper.step(dyn, t, x, h);
      check_finite(x, t + h);
      if (++stats.steps > opt.max_steps)
        throw NumericalError("integrate: more than integrate.max_steps steps");
    }
    observe(k, times[k], x);
  }
  stats.evaluations = dyn.evaluations();
  return stats;
}

// Dormand–Prince 5(4) coefficients (Hairer, Nørsett & Wanner, Solving ODEs I, Table 5.2).
constexpr double a21 = 1.0 / 5.0;
constexpr double a31 = 3.0 / 40.0, a32 = 9.0 / 40.0;
constexpr double a41 = 44.0 / 45.0, a42 = -56.0 / 15.0, a43 = 32.0 / 9.0;
constexpr double a51 = 19372.0 / 6561.0, a52 = -25360.0 / 2187.0, a53 = 64448.0 / 6561.0,
                 a54 = -212.0 / 729.0;
constexpr double a61 = 9017.0 / 3168.0, a62 = -355.0 / 33.0, a63 = 46732.0 / 5247.0,
                 a64 = 49.0 / 176.0, a65 = -5103.0 / 18656.0;
constexpr double b1 = 35.0 / 384.0, b3 = 500.0 / 1113.0, b4 = 125.0 / 192.0, b5 = -2187.0 / 6784.0,
                 b6 = 11.0 / 84.0;
// e = b (order 5) − b̂ (order 4): the embedded error estimate.
constexpr double e1 = 71.0 / 57600.0, e3 = -71.0 / 16695.0, e4 = 71.0 / 1920.0,
                 e5 = -17253.0 / 339200.0, e6 = 22.0 / 525.0, e7 = -1.0 / 40.0;
constexpr double c2 = 1.0 / 5.0, c3 = 3.0 / 10.0, c4 = 4.0 / 5.0, c5 = 8.0 / 9.0;

/// RMS of err / (atol + rtol·max(|y0|, |y1|)): Hairer's error norm (a fixed-order serial sum).
double error_norm(const Matrix& err, const Matrix& y0, const Matrix& y1, double atol, double rtol) {
  const Index size = err.size();
  double sum = 0.0;
  for (Index i = 0; i < size; ++i) {
    const double scale = atol + rtol * std::max(std::fabs(y0.data()[i]), std::fabs(y1.data()[i]));
    const double r = err.data()[i] / scale;
    sum += r * r;
  }
  return std::sqrt(sum / static_cast<double>(size));
}

/// Hairer's starting step: h with h·|f| ≈ 1 % of |y| and h⁵·|f'| ≈ 1 % (ibid. II.4).
double initial_step(OdeSystem& dyn, double t, const Matrix& x, const Matrix& f0,
                    const IntegrateOptions& opt) {
  const Matrix zero = Matrix::Zero(x.rows(), x.cols());
  const double d0 = error_norm(x, x, zero, opt.atol, opt.rtol);
  const double d1 = error_norm(f0, x, zero, opt.atol, opt.rtol);
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  Matrix y1 = x + h0 * f0;
  Matrix f1;
  dyn.velocity(t + h0, y1, f1);
  const double d2 = error_norm(f1 - f0, x, zero, opt.atol, opt.rtol) / h0;
  const double dm = std::max(d1, d2);
  const double h1 = dm <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / dm, 0.2);
  return std::min(100.0 * h0, h1);
}

IntegrateStats integrate_dopri5(OdeSystem& dyn, Matrix& x, const std::vector<double>& times,
                                const IntegrateOptions& opt, const Observer& observe,
                                Quadrature* quad) {
  IntegrateStats stats;
  double t = times.front();
  observe(0, t, x);
  Matrix k1, k2, k3, k4, k5, k6, k7, y, y_new, err;
  dyn.velocity(t, x, k1);
  double h = opt.dt > 0.0 ? opt.dt : initial_step(dyn, t, x, k1, opt);
  bool rejected_last = false;
  // Quadrature: I += hh Σ b_i q_i with the order-5 weights (b2 = b7 = 0). q1 is evaluated once per
  // step start (not taken from the FSAL stage: at a kink of the weights the new step needs the
  // other one-sided derivative).
  double q1 = 0.0, q3 = 0.0, q4 = 0.0, q5 = 0.0, q6 = 0.0;
  bool q1_current = false;
  for (std::size_t k = 1; k < times.size(); ++k) {
    const double target = times[k];
    dyn.begin_interval(t, target);
    while (t < target) {
      // Clamp to the output time (and avoid a sliver of a step just before it).
      const bool clamped = t + 1.01 * h >= target;
      const double hh = clamped ? target - t : h;
      const double mid = t + 0.5 * hh;
      if (quad != nullptr && !q1_current) {
        q1 = quad->integrand(t, x, k1, mid);
        q1_current = true;
      }
      y = x + hh * a21 * k1;
      dyn.velocity(t + c2 * hh, y, k2);
      y = x + hh * (a31 * k1 + a32 * k2);
      dyn.velocity(t + c3 * hh, y, k3);
      if (quad != nullptr) q3 = quad->integrand(t + c3 * hh, y, k3, mid);
      y = x + hh * (a41 * k1 + a42 * k2 + a43 * k3);
      dyn.velocity(t + c4 * hh, y, k4);
      if (quad != nullptr) q4 = quad->integrand(t + c4 * hh, y, k4, mid);
      y = x + hh * (a51 * k1 + a52 * k2 + a53 * k3 + a54 * k4);
      dyn.velocity(t + c5 * hh, y, k5);
      if (quad != nullptr) q5 = quad->integrand(t + c5 * hh, y, k5, mid);
      y = x + hh * (a61 * k1 + a62 * k2 + a63 * k3 + a64 * k4 + a65 * k5);
      dyn.velocity(t + hh, y, k6);
      if (quad != nullptr) q6 = quad->integrand(t + hh, y, k6, mid);
      y_new = x + hh * (b1 * k1 + b3 * k3 + b4 * k4 + b5 * k5 + b6 * k6);
      dyn.velocity(t + hh, y_new, k7);
      err = hh * (e1 * k1 + e3 * k3 + e4 * k4 + e5 * k5 + e6 * k6 + e7 * k7);
      const double e = error_norm(err, x, y_new, opt.atol, opt.rtol);
      if (std::isfinite(e) && e <= 1.0) {
        if (quad != nullptr) {
          quad->value += hh * (b1 * q1 + b3 * q3 + b4 * q4 + b5 * q5 + b6 * q6);
          q1_current = false;
        }
        t = clamped ? target : t + hh;
        x.swap(y_new);
        // Retracting moves x by O(tolerance); the FSAL stage k7 then belongs to the unretracted
        // point, so the first stage is evaluated afresh (only when the retraction moved x).
        y_new = x;
        dyn.retract(x);
        if (x == y_new) {
          k1.swap(k7);
        } else {
          dyn.velocity(t, x, k1);
        }
        check_finite(x, t);
        const double fac = e == 0.0 ? 5.0 : std::clamp(0.9 * std::pow(e, -0.2), 0.2, 5.0);
        const double proposed = hh * (rejected_last ? std::min(1.0, fac) : fac);
        // A step shortened to land on an output time says little about the next one: keep h
        // unless its error asks for a smaller step.
        if (!clamped)
          h = proposed;
        else if (fac < 1.0)
          h = std::min(h, proposed);
        rejected_last = false;
        if (++stats.steps > opt.max_steps)
          throw NumericalError("integrate: more than integrate.max_steps steps");
      } else {
        ++stats.rejected;
        const double fac = std::isfinite(e) ? std::max(0.2, 0.9 * std::pow(e, -0.2)) : 0.2;
        h = hh * fac;
        rejected_last = true;
        if (h < 1e-14 * std::max(1.0, std::fabs(t)))
          throw NumericalError("integrate: dopri5 step size underflow at t = " + time_text(t) +
                               "; the dynamics may blow up here");
      }
    }
    observe(k, t, x);
  }
  stats.evaluations = dyn.evaluations();
  return stats;
}

}  // namespace

IntegrateStats integrate(OdeSystem& dynamics, Matrix& x, const std::vector<double>& times,
                         const IntegrateOptions& options, const Observer& observe,
                         Quadrature* quadrature) {
  if (times.empty()) return {};
  if (options.method == Method::dopri5)
    return integrate_dopri5(dynamics, x, times, options, observe, quadrature);
  return integrate_fixed(dynamics, x, times, options, observe, quadrature);
}

std::string_view method_name(Method method) {
  switch (method) {
    case Method::euler:
      return "euler";
    case Method::rk4:
      return "rk4";
    case Method::dopri5:
      return "dopri5";
  }
  return "rk4";
}

Method method_from_name(std::string_view name, const std::string& key) {
  for (Method m : {Method::euler, Method::rk4, Method::dopri5})
    if (method_name(m) == name) return m;
  throw InputError(key, "unknown method '" + std::string(name) + "'; allowed: euler, rk4, dopri5");
}

}  // namespace attnflow
