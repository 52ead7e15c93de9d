#include "attnflow/reduce/long_context.hpp"

#include <cmath>
#include <limits>

#include "attnflow/error.hpp"

namespace attnflow::reduce {

double long_context_critical_gamma(double rho) {
  return 1.0 / (1.0 - rho);
}

void validate_long_context(double n, double gamma, double rho) {
  if (!std::isfinite(n) || n < 2.0)
    throw InputError("--n", "the long-context layer needs n >= 2 tokens, got " + format_number(n));
  const double lower = -1.0 / (n - 1.0);
  if (!std::isfinite(rho) || rho <= lower || rho > 1.0)
    throw InputError("--rho", "must lie in (-1/(n-1), 1] = (" + format_number(lower) +
                                  ", 1] for n = " + format_number(n) + ", got " +
                                  format_number(rho));
  if (!std::isfinite(gamma) || gamma <= 0.0)
    throw InputError("--gamma",
                     "must be finite and > 0 (beta = gamma log n), got " + format_number(gamma));
}

double long_context_similarity(double n, double gamma, double rho, bool residual) {
  if (rho == 1.0) return 1.0;
  const double log_n = std::log(n);
  const double sigma = 1.0 + (n - 1.0) * rho;  // ⟨x_i, S⟩
  const double ns = n * sigma;                 // |S|²
  // log c = γ(1 − ρ) log n; κ = c − 1 (attention only) or 2c + n − 2 (with the residual, since
  // 1/b = e^{β(1−ρ)} + n − 1 = c + n − 1). Large κ is handled through u = 1/κ.
  const double log_c = gamma * (1.0 - rho) * log_n;
  double kappa;
  if (log_c > 700.0) {
    kappa = std::numeric_limits<double>::infinity();
  } else {
    const double c_minus_1 = std::expm1(log_c);
    kappa = residual ? 2.0 * c_minus_1 + n : c_minus_1;
  }
  if (std::isinf(kappa) || kappa > 1e150) {
    const double u = std::isinf(kappa) ? 0.0 : 1.0 / kappa;
    return (rho + 2.0 * sigma * u + ns * u * u) / (1.0 + 2.0 * sigma * u + ns * u * u);
  }
  return (kappa * kappa * rho + 2.0 * kappa * sigma + ns) /
         (kappa * kappa + 2.0 * kappa * sigma + ns);
}

double long_context_limit(double gamma, double rho) {
  const double gc = long_context_critical_gamma(rho);
  if (std::fabs(gamma - gc) <= 1e-12 * gc) return 4.0 * rho / (1.0 + 3.0 * rho);
  return gamma < gc ? 1.0 : rho;
}

std::string long_context_regime(double gamma, double rho) {
  const double gc = long_context_critical_gamma(rho);
  if (std::fabs(gamma - gc) <= 1e-12 * gc) return "critical";
  return gamma < gc ? "subcritical" : "supercritical";
}

}  // namespace attnflow::reduce
