#include "attnflow/io/matrix_spec.hpp"

#include <cmath>

#include "attnflow/error.hpp"
#include "attnflow/io/toml_helpers.hpp"
#include "attnflow/io/weight_file.hpp"
#include "attnflow/rng.hpp"

namespace attnflow::io {

namespace {

using namespace toml_util;

std::string shape_text(const Matrix& m) {
  return std::to_string(m.rows()) + "x" + std::to_string(m.cols());
}

void require_same_shape(const Matrix& a, const Matrix& b, const std::string& key) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw InputError(key, "must have the shape of the first matrix (" + shape_text(a) + "), got " +
                              shape_text(b));
}

std::string kind_of(const toml::table& t, const std::string& key) {
  const auto* n = t.get("kind");
  if (n == nullptr) throw InputError(key + ".kind", "is required in a matrix table");
  return to_string(*n, key + ".kind");
}

Index rows_of(const toml::table& t, const std::string& key, Index d) {
  const auto* n = t.get("rows");
  if (n == nullptr) return d;
  const std::int64_t v = to_integer(*n, key + ".rows");
  if (v < 1) throw InputError(key + ".rows", "must be at least 1, got " + std::to_string(v));
  return v;
}

/// A matrix that does not depend on time: an array, or a table of kind identity, random or a 2-D
/// file.
Matrix parse_constant(const toml::node& node, const std::string& key, const MatrixContext& ctx) {
  if (!node.is_table()) return to_matrix(node, key);
  const toml::table& t = *node.as_table();
  const std::string kind = kind_of(t, key);
  if (kind == "identity") {
    check_keys(t, key, {"kind", "rows"});
    return Matrix::Identity(rows_of(t, key, ctx.d), ctx.d);
  }
  if (kind == "random") {
    check_keys(t, key, {"kind", "rows", "scale", "seed"});
    const Index rows = rows_of(t, key, ctx.d);
    const double scale = t.contains("scale") ? finite_number(*t.get("scale"), key + ".scale") : 1.0;
    std::int64_t seed = 0;
    if (const auto* n = t.get("seed")) seed = to_integer(*n, key + ".seed");
    if (seed < 0) throw InputError(key + ".seed", "must be >= 0, got " + std::to_string(seed));
    Rng rng(static_cast<std::uint64_t>(seed));
    Matrix m(rows, ctx.d);
    const double sd = scale / std::sqrt(static_cast<double>(ctx.d));
    for (Index r = 0; r < rows; ++r)
      for (Index c = 0; c < ctx.d; ++c) m(r, c) = sd * rng.normal();
    return m;
  }
  if (kind == "file") {
    check_keys(t, key, {"kind", "path", "format", "array", "dataset"});
    const NdArray a = read_weight_file(t, key, ctx.base_dir);
    if (a.shape.size() != 2)
      throw InputError(key + ".path", "must hold a 2-D array here, got " +
                                          std::to_string(a.shape.size()) + " dimensions");
    return Eigen::Map<const Matrix>(a.data.data(), static_cast<Index>(a.shape[0]),
                                    static_cast<Index>(a.shape[1]));
  }
  throw InputError(key + ".kind",
                   "'" + kind + "' is not a constant matrix here; allowed: identity, random, file");
}

double positive_or(const toml::table& t, const char* name, const std::string& key,
                   double fallback) {
  const auto* n = t.get(name);
  return n == nullptr ? fallback : positive_number(*n, key + "." + name);
}

/// Per-layer weights must cover the whole run: L layers of layer_time each reach L·layer_time.
MatrixSchedule covering_layers(std::vector<Matrix> layers, double layer_time,
                               const std::string& key, const MatrixContext& ctx) {
  const double covered = static_cast<double>(layers.size()) * layer_time;
  if (ctx.t_end > covered * (1.0 + 1e-12))
    throw InputError(key, "has " + std::to_string(layers.size()) + " layers of " +
                              number_text(layer_time) +
                              " time units (up to t = " + number_text(covered) +
                              "), the run needs t_end = " + number_text(ctx.t_end));
  return MatrixSchedule::per_layer(std::move(layers), layer_time);
}

}  // namespace

MatrixSchedule parse_matrix_spec(const toml::node& node, const std::string& key,
                                 const MatrixContext& ctx) {
  if (!node.is_table()) return MatrixSchedule::constant(to_matrix(node, key));
  const toml::table& t = *node.as_table();
  const std::string kind = kind_of(t, key);
  if (kind == "identity" || kind == "random")
    return MatrixSchedule::constant(parse_constant(node, key, ctx));
  if (kind == "file") {
    check_keys(t, key, {"kind", "path", "format", "array", "dataset", "layer_time"});
    const NdArray a = read_weight_file(t, key, ctx.base_dir);
    if (a.shape.size() == 2)
      return MatrixSchedule::constant(Eigen::Map<const Matrix>(
          a.data.data(), static_cast<Index>(a.shape[0]), static_cast<Index>(a.shape[1])));
    if (a.shape.size() != 3 || a.shape[0] == 0)
      throw InputError(key + ".path",
                       "must hold a 2-D matrix or a 3-D array (layers x rows x cols), got " +
                           std::to_string(a.shape.size()) + " dimensions");
    std::vector<Matrix> layers;
    const auto rows = static_cast<Index>(a.shape[1]), cols = static_cast<Index>(a.shape[2]);
    for (std::size_t l = 0; l < a.shape[0]; ++l)
      layers.emplace_back(
          Eigen::Map<const Matrix>(a.data.data() + l * a.shape[1] * a.shape[2], rows, cols));
    return covering_layers(std::move(layers), positive_or(t, "layer_time", key, 1.0), key + ".path",
                           ctx);
  }
  if (kind == "per_layer") {
    check_keys(t, key, {"kind", "layers", "layer_time"});
    const auto* l = t.get("layers");
    if (l == nullptr || !l->is_array() || l->as_array()->empty())
      throw InputError(key + ".layers", "must be a non-empty array of matrices");
    std::vector<Matrix> layers;
    const auto& arr = *l->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      layers.push_back(
          parse_constant(*arr.get(i), key + ".layers[" + std::to_string(i) + "]", ctx));
      require_same_shape(layers.front(), layers.back(), key + ".layers[" + std::to_string(i) + "]");
    }
    return covering_layers(std::move(layers), positive_or(t, "layer_time", key, 1.0),
                           key + ".layers", ctx);
  }
  if (kind == "sinusoid" || kind == "relaxation") {
    // sinusoid: M = base + amplitude·sin(ω t + φ); relaxation: dM/dt = rate·(that − M), M(0) =
    // initial. ω and φ are numbers or matrices (entrywise).
    if (kind == "sinusoid")
      check_keys(t, key, {"kind", "base", "amplitude", "omega", "phase"});
    else
      check_keys(t, key, {"kind", "base", "amplitude", "omega", "phase", "initial", "rate"});
    if (!t.contains("base") || !t.contains("amplitude"))
      throw InputError(key, "a " + kind + " needs base and amplitude");
    Matrix base = parse_constant(*t.get("base"), key + ".base", ctx);
    Matrix amplitude = parse_constant(*t.get("amplitude"), key + ".amplitude", ctx);
    require_same_shape(base, amplitude, key + ".amplitude");
    auto entrywise = [&](const char* name, double fallback) {
      const auto* n = t.get(name);
      if (n == nullptr) return Matrix::Constant(base.rows(), base.cols(), fallback).eval();
      if (n->is_number())
        return Matrix::Constant(base.rows(), base.cols(), finite_number(*n, key + "." + name))
            .eval();
      Matrix m = to_matrix(*n, key + "." + name);
      require_same_shape(base, m, key + "." + name);
      if (!m.allFinite()) throw InputError(key + "." + name, "must have finite entries");
      return m;
    };
    Matrix omega = entrywise("omega", 1.0);
    Matrix phase = entrywise("phase", 0.0);
    if (kind == "sinusoid")
      return MatrixSchedule::sinusoid(std::move(base), std::move(amplitude), std::move(omega),
                                      std::move(phase));
    if (!t.contains("initial"))
      throw InputError(key + ".initial", "is required for kind = \"relaxation\"");
    Matrix initial = parse_constant(*t.get("initial"), key + ".initial", ctx);
    require_same_shape(base, initial, key + ".initial");
    return MatrixSchedule::relaxation(std::move(initial), positive_or(t, "rate", key, 1.0),
                                      std::move(base), std::move(amplitude), std::move(omega),
                                      std::move(phase));
  }
  if (kind == "ou") {
    check_keys(t, key, {"kind", "mean", "initial", "theta", "sigma", "dt", "seed", "symmetric"});
    if (!t.contains("mean")) throw InputError(key + ".mean", "is required for kind = \"ou\"");
    Matrix mean = parse_constant(*t.get("mean"), key + ".mean", ctx);
    Matrix initial =
        t.contains("initial") ? parse_constant(*t.get("initial"), key + ".initial", ctx) : mean;
    require_same_shape(mean, initial, key + ".initial");
    const double theta = positive_or(t, "theta", key, 1.0);
    double sigma = 1.0;
    if (const auto* n = t.get("sigma")) {
      sigma = finite_number(*n, key + ".sigma");
      if (sigma < 0.0)
        throw InputError(key + ".sigma", "must be finite and >= 0, got " + number_text(sigma));
    }
    const double dt = positive_or(t, "dt", key, 0.01);
    std::int64_t seed = 0;
    if (const auto* n = t.get("seed")) seed = to_integer(*n, key + ".seed");
    if (seed < 0) throw InputError(key + ".seed", "must be >= 0, got " + std::to_string(seed));
    const bool symmetric =
        t.contains("symmetric") && to_bool(*t.get("symmetric"), key + ".symmetric");
    if (symmetric && mean.rows() != mean.cols())
      throw InputError(key + ".symmetric", "needs a square matrix");
    return MatrixSchedule::ornstein_uhlenbeck(std::move(initial), std::move(mean), theta, sigma, dt,
                                              std::max(ctx.t_end, dt),
                                              static_cast<std::uint64_t>(seed), symmetric);
  }
  throw InputError(key + ".kind",
                   "unknown kind '" + kind +
                       "'; allowed: identity, random, file, per_layer, sinusoid, relaxation, ou");
}

MatrixSchedule parse_scalar_spec(const toml::node& node, const std::string& key,
                                 const MatrixContext& ctx) {
  if (!node.is_table())
    return MatrixSchedule::constant(Matrix::Constant(1, 1, to_number(node, key)));
  MatrixContext scalar = ctx;
  scalar.d = 1;
  // Numbers stand for 1×1 matrices: the matrix-valued entries (base, amplitude, mean, initial,
  // layers) are rewritten as [[x]]; the schedule's own scalars (omega, theta, ...) stay numbers.
  const toml::table& original = *node.as_table();
  toml::table t;
  auto one_by_one = [](double x) {
    toml::array row, rows;
    row.push_back(x);
    rows.push_back(std::move(row));
    return rows;
  };
  for (auto&& [k, v] : original) {
    const std::string name(k.str());
    if ((name == "base" || name == "amplitude" || name == "mean" || name == "initial") &&
        v.is_number()) {
      t.insert_or_assign(name, one_by_one(to_number(v, key + "." + name)));
    } else if (name == "layers" && v.is_array()) {
      toml::array layers;
      for (std::size_t i = 0; i < v.as_array()->size(); ++i)
        layers.push_back(one_by_one(
            to_number(*v.as_array()->get(i), key + ".layers[" + std::to_string(i) + "]")));
      t.insert_or_assign(name, std::move(layers));
    } else {
      t.insert_or_assign(name, v);
    }
  }
  return parse_matrix_spec(t, key, scalar);
}

}  // namespace attnflow::io
