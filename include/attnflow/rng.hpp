#pragma once
// The documented random generator: std::mt19937_64 (its output sequence is fixed by the C++
// standard) seeded with init.seed; uniforms from the top 53 bits, normals by Box–Muller. The
// std:: distributions are hand-replaced because their algorithms are implementation-defined, so
// the same seed would not give the same tokens with another standard library.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace attnflow {

/// Seeded generator with portable uniform and normal variates.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  /// Uniform on [0, 1): (u >> 11) · 2⁻⁵³.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// Standard normal, Box–Muller on (1 − u₁, u₂); the second variate of each pair is kept.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // in (0, 1]: log is finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(angle);
    has_spare_ = true;
    return r * std::cos(angle);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace attnflow
