// attnflow._attnflow: the C++ engine for Python (pybind11). The public, documented API is the pure
// Python package around it (python/attnflow/*.py); this file only converts arguments, releases the
// GIL around the engine and converts results.
//
// Conventions (docs/python.md):
// * A model is the dict of a TOML [model] table. It is converted to a toml::table and parsed by the
//   same code as `attnflow run` (io::parse_model_table / io::parse_config), so the same keys,
//   defaults, validation and messages apply ("model.beta: must be finite and > 0, got -1").
// * Every user-fixable problem is an attnflow::InputError, raised in Python as attnflow.InputError,
//   a subclass of ValueError whose text is "<key>: <what is wrong>" and whose .key is the key or
//   argument name. NumericalError becomes attnflow.NumericalError (a RuntimeError).
// * Arrays: float64 C-contiguous arrays are read in place (no conversion copy); other floating
//   dtypes and non-contiguous or read-only arrays are converted once to float64 C order (inputs are
//   never written to); integer, boolean, complex or object arrays are refused with a ValueError
//   naming the argument; Python sequences go through numpy.asarray(dtype=float64). The engine's API
//   takes owned row-major Eigen matrices, so tokens are then copied once into one (O(N·d), next to
//   the O(N²·d) work). Results are returned without copies: NumPy arrays own the engine's buffers
//   or are filled in place.
// * The GIL is released while the engine computes. It is kept while HDF5 is used (load, run):
//   HDF5 is not thread-safe and h5py may use it from another Python thread.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "attnflow/analysis/wasserstein.hpp"
#include "attnflow/clusters.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/error.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/init.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/io/config.hpp"
#include "attnflow/io/model_table.hpp"
#include "attnflow/io/reduce_config.hpp"
#include "attnflow/io/run.hpp"
#include "attnflow/io/run_reader.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/observables.hpp"
#include "attnflow/reduce/equiangular.hpp"
#include "attnflow/reduce/gaussian.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace attnflow::python {

namespace {

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

// ---------------------------------------------------------------------------------------------
// Arrays

std::string type_of(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) {
    if (k > 0) s += ", ";
    s += std::to_string(a.shape(k));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

/// A float64 C-contiguous array for the argument `name` (see the file comment for what is copied).
Array float_array(py::handle obj, const std::string& name) {
  if (obj.is_none()) throw InputError(name, "is required, got None");
  py::array arr;
  if (py::isinstance<py::array>(obj)) {
    arr = py::reinterpret_borrow<py::array>(obj);
    if (arr.dtype().kind() != 'f')
      throw InputError(name, "must be an array of floating-point numbers (float64), got dtype " +
                                 std::string(py::str(arr.dtype())));
  } else {
    try {
      arr = py::module_::import("numpy").attr("asarray")(obj, "dtype"_a = "float64");
    } catch (py::error_already_set&) {
      throw InputError(name, "must be an array of numbers, got " + type_of(obj));
    }
  }
  return Array::ensure(arr);  // the same object when already float64 and C-contiguous
}

/// The entries of `a` are finite; otherwise InputError naming the first bad entry.
void require_finite(const Array& a, const std::string& name) {
  const double* p = a.data();
  const py::ssize_t size = a.size();
  for (py::ssize_t k = 0; k < size; ++k) {
    if (std::isfinite(p[k])) continue;
    std::string where;
    py::ssize_t rest = k;
    for (py::ssize_t axis = a.ndim() - 1; axis >= 0; --axis) {
      where = std::to_string(rest % a.shape(axis)) + (where.empty() ? "" : ", ") + where;
      rest /= a.shape(axis);
    }
    throw InputError(name, "must contain finite numbers only, got " + format_number(p[k]) +
                               " at [" + where + "]");
  }
}

/// An N×d token array (N, d ≥ 1, finite) as an engine matrix.
Matrix token_matrix(py::handle obj, const std::string& name) {
  const Array a = float_array(obj, name);
  if (a.ndim() != 2)
    throw InputError(name, "must be a 2-D array of shape (N, d), got shape " + shape_text(a));
  if (a.shape(0) < 1 || a.shape(1) < 1)
    throw InputError(name,
                     "must hold at least one token of dimension >= 1, got shape " + shape_text(a));
  require_finite(a, name);
  return Eigen::Map<const Matrix>(a.data(), a.shape(0), a.shape(1));
}

/// A d×d matrix.
Matrix square_matrix(py::handle obj, Index d, const std::string& name) {
  const Array a = float_array(obj, name);
  if (a.ndim() != 2 || a.shape(0) != d || a.shape(1) != d)
    throw InputError(name, "must be a " + std::to_string(d) + "x" + std::to_string(d) +
                               " matrix, got shape " + shape_text(a));
  require_finite(a, name);
  return Eigen::Map<const Matrix>(a.data(), d, d);
}

/// A 1-D finite vector, of length `size` unless size < 0.
std::vector<double> vector_of(py::handle obj, Index size, const std::string& name,
                              const std::string& what) {
  const Array a = float_array(obj, name);
  if (a.ndim() != 1 || (size >= 0 && a.shape(0) != size))
    throw InputError(name, "must be a 1-D array with " + what + ", got shape " + shape_text(a));
  require_finite(a, name);
  return std::vector<double>(a.data(), a.data() + a.shape(0));
}

/// Token masses (default 1/N): N entries, finite, ≥ 0, summing to 1 within 1e-9.
std::vector<double> token_weights(py::handle obj, Index n, const std::string& name) {
  if (obj.is_none())
    return std::vector<double>(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
  std::vector<double> w =
      vector_of(obj, n, name, "one entry per token (N = " + std::to_string(n) + ")");
  double total = 0.0;
  for (double v : w) {
    if (v < 0.0) throw InputError(name, "must be finite and >= 0, got " + format_number(v));
    total += v;
  }
  if (std::fabs(total - 1.0) > 1e-9)
    throw InputError(name, "must sum to 1, got " + format_number(total));
  return w;
}

/// Sequence positions (default 0..N−1).
std::vector<double> token_positions(py::handle obj, Index n, const std::string& name) {
  if (obj.is_none()) {
    std::vector<double> p(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<double>(i);
    return p;
  }
  return vector_of(obj, n, name, "one entry per token (N = " + std::to_string(n) + ")");
}

/// A measure from Python arguments; on the sphere the tokens must be unit vectors (CLI's message).
Measure make_measure(Matrix x, py::handle weights, py::handle positions, bool sphere,
                     const std::string& x_name, const std::string& w_name = "weights",
                     const std::string& p_name = "positions") {
  Measure m;
  const Index n = x.rows();
  m.weights = token_weights(weights, n, w_name);
  m.positions = token_positions(positions, n, p_name);
  m.x = std::move(x);
  validate_measure(m, sphere, x_name);
  return m;
}

/// A NumPy array that owns `m` (no copy).
py::array matrix_to_numpy(Matrix&& m) {
  auto* owned = new Matrix(std::move(m));
  py::capsule base(owned, [](void* p) { delete static_cast<Matrix*>(p); });
  return py::array_t<double>({owned->rows(), owned->cols()}, owned->data(), base);
}

py::array vector_to_numpy(std::vector<double>&& v) {
  auto* owned = new std::vector<double>(std::move(v));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<double>*>(p); });
  return py::array_t<double>({static_cast<py::ssize_t>(owned->size())}, owned->data(), base);
}

// ---------------------------------------------------------------------------------------------
// Python objects → TOML (the same tables a configuration file gives)

toml::table to_table(py::handle dict, const std::string& key);
toml::array to_array(py::handle seq, const std::string& key);

std::string child(const std::string& key, const std::string& name) {
  return key.empty() ? name : key + "." + name;
}

/// Converts one Python value and hands the TOML value to `put`.
template <typename Put>
void convert(py::handle v, const std::string& key, Put&& put) {
  const py::module_ np = py::module_::import("numpy");
  if (py::isinstance<py::bool_>(v) || py::isinstance(v, np.attr("bool_"))) {
    put(v.cast<bool>());
  } else if (py::isinstance<py::int_>(v) || py::isinstance(v, np.attr("integer"))) {
    try {
      put(v.cast<std::int64_t>());
    } catch (py::cast_error&) {
      throw InputError(key, "integer out of the 64-bit range");
    }
  } else if (py::isinstance<py::float_>(v) || py::isinstance(v, np.attr("floating"))) {
    put(v.cast<double>());
  } else if (py::isinstance<py::str>(v)) {
    put(v.cast<std::string>());
  } else if (py::isinstance<py::dict>(v)) {
    put(to_table(v, key));
  } else if (py::isinstance<py::array>(v)) {
    const char kind = py::reinterpret_borrow<py::array>(v).dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
      throw InputError(key, "must be an array of numbers, got dtype " +
                                std::string(py::str(py::reinterpret_borrow<py::array>(v).dtype())));
    put(to_array(v.attr("tolist")(), key));
  } else if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    put(to_array(v, key));
  } else if (py::hasattr(v, "to_dict")) {  // an attnflow.Model inside a configuration
    put(to_table(v.attr("to_dict")(), key));
  } else {
    throw InputError(
        key, "cannot be given as " + type_of(v) +
                 "; allowed: numbers, strings, booleans, lists, arrays and dicts (as in TOML)");
  }
}

toml::table to_table(py::handle dict, const std::string& key) {
  if (!py::isinstance<py::dict>(dict))
    throw InputError(key.empty() ? "config" : key,
                     "must be a dict (a TOML table), got " + type_of(dict));
  toml::table t;
  for (auto [k, v] : py::reinterpret_borrow<py::dict>(dict)) {
    if (!py::isinstance<py::str>(k))
      throw InputError(key.empty() ? "config" : key, "keys must be strings, got " + type_of(k));
    const std::string name = k.cast<std::string>();
    if (v.is_none()) continue;  // None: the key is absent (its default applies)
    convert(v, child(key, name),
            [&](auto&& value) { t.insert_or_assign(name, std::forward<decltype(value)>(value)); });
  }
  return t;
}

toml::array to_array(py::handle seq, const std::string& key) {
  toml::array a;
  std::size_t i = 0;
  for (py::handle v : seq) {
    const std::string item = key + "[" + std::to_string(i++) + "]";
    if (v.is_none()) throw InputError(item, "must not be None");
    convert(v, item, [&](auto&& value) { a.push_back(std::forward<decltype(value)>(value)); });
  }
  return a;
}

std::string toml_text(const toml::table& t) {
  std::ostringstream out;
  out << t << "\n";
  return out.str();
}

/// The model of a [model] dict (None: the default model) for tokens of dimension d.
Model to_model(py::handle spec, Index d) {
  if (spec.is_none()) return io::parse_model_table(nullptr, d);
  const toml::table t = to_table(spec, "model");
  return io::parse_model_table(&t, d);
}

std::filesystem::path working_directory() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::current_path(ec);
  return ec ? std::filesystem::path(".") : p;
}

/// A run configuration from a dict of sections, a TOML text or a path to a TOML file.
io::RunConfig to_run_config(py::handle config, const std::vector<std::string>& overrides) {
  if (py::isinstance<py::dict>(config))
    return io::parse_config(toml_text(to_table(config, "")), overrides, working_directory());
  if (py::isinstance(config, py::module_::import("os").attr("PathLike")))
    return io::load_config(std::string(py::str(config.attr("__fspath__")())), overrides);
  if (py::isinstance<py::str>(config)) {
    const std::string s = config.cast<std::string>();
    if (s.find('\n') == std::string::npos && s.find('=') == std::string::npos)
      return io::load_config(s, overrides);  // a path (a TOML text has at least one '=')
    return io::parse_config(s, overrides, working_directory());
  }
  throw InputError("config",
                   "must be a dict of sections, a TOML text or a path, got " + type_of(config));
}

// ---------------------------------------------------------------------------------------------
// Functions

py::dict model_info(py::handle spec, Index d) {
  if (d < 1) throw InputError("d", "must be at least 1, got " + std::to_string(d));
  const Model m = to_model(spec, d);
  py::list heads;
  for (const Head& h : m.heads) {
    py::dict head;
    head["Q"] = matrix_to_numpy(Matrix(h.Q));
    head["K"] = matrix_to_numpy(Matrix(h.K));
    head["V"] = matrix_to_numpy(Matrix(h.V));
    head["W"] = h.W.size() == 0 ? py::object(py::none()) : py::object(matrix_to_numpy(Matrix(h.W)));
    heads.append(head);
  }
  py::dict out;
  out["geometry"] = std::string(geometry_name(m.geometry));
  out["kernel"] = std::string(kernel_info(m.kernel).name);
  out["normalization"] = std::string(normalization_name(effective_normalization(m)));
  out["beta"] = m.beta;
  out["causal"] = m.causal;
  out["heads"] = heads;
  return out;
}

py::array velocity(py::handle spec, py::handle x, double t, py::handle weights,
                   py::handle positions, bool raw) {
  Matrix tokens = token_matrix(x, "x");
  if (!std::isfinite(t)) throw InputError("t", "must be finite, got " + format_number(t));
  const Model model = to_model(spec, tokens.cols());
  Measure m =
      make_measure(std::move(tokens), weights, positions, model.geometry == Geometry::sphere, "x");
  Matrix v;
  {
    py::gil_scoped_release nogil;
    std::vector<double> radii(static_cast<std::size_t>(m.n()));
    for (Index i = 0; i < m.n(); ++i) radii[static_cast<std::size_t>(i)] = m.x.row(i).norm();
    Dynamics dynamics(AttentionField(model, m.weights, m.positions), radii);
    if (raw) {
      dynamics.attention(t, m.x, v);
    } else {
      dynamics.velocity(t, m.x, v);
    }
  }
  return matrix_to_numpy(std::move(v));
}

/// The particle flow of a configuration from given tokens, with the loop of io::run_experiment
/// (same Dynamics, same observables, same output times), frames kept in memory.
py::dict simulate(py::handle config, py::handle x0, py::handle weights, py::handle positions,
                  py::handle gmean, py::handle gcov) {
  Matrix tokens = token_matrix(x0, "x0");
  const Index n = tokens.rows(), d = tokens.cols();
  toml::table root = to_table(config, "");
  if (root.contains("init"))
    throw InputError("init", "the tokens are the x0 argument; give no [init] section");
  root.insert("init", toml::table{{"n", static_cast<std::int64_t>(n)},
                                  {"d", static_cast<std::int64_t>(d)}});
  const io::RunConfig cfg = io::parse_config(toml_text(root), {}, working_directory());
  Measure m = make_measure(std::move(tokens), weights, positions,
                           cfg.model.geometry == Geometry::sphere, "x0");

  const std::vector<std::string>& names = cfg.output.observables;
  std::optional<GaussianReference> gaussian;
  for (const std::string& name : names) {
    if (!is_gaussian_observable(name) || gaussian) continue;
    if (gmean.is_none() || gcov.is_none())
      throw InputError("gaussian",
                       "the observable '" + name +
                           "' compares the tokens with the Gaussian solution "
                           "of [C]: pass gaussian=(mean, cov), the law x0 was sampled from");
    const std::vector<double> mv =
        vector_of(gmean, d, "gaussian.mean", std::to_string(d) + " entries");
    const Vector mean = Eigen::Map<const Vector>(mv.data(), d);
    const Matrix cov = square_matrix(gcov, d, "gaussian.cov");
    reduce::validate_covariance(cov, d, "gaussian.cov");
    reduce::GaussianSolveOptions opt;  // as io::run_experiment
    opt.integrate.method = Method::dopri5;
    opt.integrate.dt = 0.0;
    opt.integrate.rtol = 1e-10;
    opt.integrate.atol = 1e-12;
    const reduce::GaussianSolution solution =
        reduce::solve_gaussian(cfg.model, mean, cov, cfg.output.times, opt);
    gaussian.emplace();
    for (const reduce::GaussianFrame& f : solution.frames) {
      gaussian->times.push_back(f.t);
      gaussian->means.push_back(f.mean);
      gaussian->covs.push_back(f.cov);
    }
  }

  const auto frames = static_cast<py::ssize_t>(
      std::count(cfg.output.record.begin(), cfg.output.record.end(), true));
  const Normalization scheme = effective_normalization(cfg.model);
  const bool with_radius = scheme != Normalization::none && scheme != Normalization::post_ln;
  py::array_t<double> t_out({frames});
  py::array_t<double> x_out(cfg.output.trajectory ? std::vector<py::ssize_t>{frames, n, d}
                                                  : std::vector<py::ssize_t>{0, n, d});
  py::array_t<double> radius_out(with_radius ? std::vector<py::ssize_t>{frames, n}
                                             : std::vector<py::ssize_t>{0, n});
  std::vector<py::array_t<double>> series;
  std::vector<double*> series_ptr;
  for (std::size_t k = 0; k < names.size(); ++k) {
    series.emplace_back(std::vector<py::ssize_t>{frames});
    series_ptr.push_back(series.back().mutable_data());
  }
  double* t_ptr = t_out.mutable_data();
  double* x_ptr = cfg.output.trajectory ? x_out.mutable_data() : nullptr;
  double* r_ptr = with_radius ? radius_out.mutable_data() : nullptr;

  IntegrateStats stats;
  std::string error;
  py::ssize_t done = 0;
  {
    py::gil_scoped_release nogil;
    std::vector<double> radii(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) radii[static_cast<std::size_t>(i)] = m.x.row(i).norm();
    Dynamics dynamics(AttentionField(cfg.model, m.weights, m.positions), radii);
    ObservableSet observables(names, cfg.output.cluster_threshold);
    if (gaussian) observables.set_gaussian_reference(std::move(*gaussian));
    auto observe = [&](std::size_t k, double t, const Matrix& x) {
      if (!cfg.output.record[k]) return;
      const std::vector<double> values = observables.evaluate(t, x, dynamics);
      t_ptr[done] = t;
      if (x_ptr != nullptr)
        std::memcpy(x_ptr + done * n * d, x.data(),
                    sizeof(double) * static_cast<std::size_t>(n * d));
      if (r_ptr != nullptr)
        for (Index i = 0; i < n; ++i) r_ptr[done * n + i] = x.row(i).norm();
      for (std::size_t j = 0; j < values.size(); ++j) series_ptr[j][done] = values[j];
      ++done;
    };
    Matrix x = m.x;
    try {
      stats = integrate(dynamics, x, cfg.output.times, cfg.integrate, observe,
                        observables.quadrature(dynamics, cfg.output.times.front(), x));
    } catch (const NumericalError& e) {
      error = e.what();
    }
  }
  auto head = [done](const py::array& a) -> py::object { return a[py::slice(0, done, 1)]; };
  py::dict out;
  out["t"] = head(t_out);
  out["x"] = cfg.output.trajectory ? head(x_out) : py::object(py::none());
  out["radius"] = with_radius ? head(radius_out) : py::object(py::none());
  py::dict values;
  for (std::size_t k = 0; k < names.size(); ++k) values[py::str(names[k])] = head(series[k]);
  out["observables"] = values;
  out["weights"] = vector_to_numpy(std::move(m.weights));
  out["positions"] = vector_to_numpy(std::move(m.positions));
  out["steps"] = stats.steps;
  out["rejected"] = stats.rejected;
  out["evaluations"] = stats.evaluations;
  out["config"] = cfg.resolved_toml;
  out["error"] = error.empty() ? py::object(py::none()) : py::object(py::str(error));
  return out;
}

double energy(py::handle spec, py::handle x, py::handle weights, const std::string& kind,
              bool log) {
  Matrix tokens = token_matrix(x, "x");
  const Model model = to_model(spec, tokens.cols());
  const Measure m = make_measure(std::move(tokens), weights, py::none(), false, "x");
  py::gil_scoped_release nogil;
  if (kind == "energy" || kind == "energy_b") {
    const EnergyValue e =
        kind == "energy" ? interaction_energy(model, m) : interaction_energy_b(model, m);
    return log ? e.log_value : e.value;
  }
  if (kind == "normalized_energy") {
    const double e = normalized_energy(model.beta, m);
    return log ? std::log(e) : e;
  }
  throw InputError("kind",
                   "unknown energy '" + kind + "'; allowed: energy, energy_b, normalized_energy");
}

py::array energy_gradient(py::handle spec, py::handle x, py::handle weights) {
  Matrix tokens = token_matrix(x, "x");
  const Model model = to_model(spec, tokens.cols());
  const Measure m = make_measure(std::move(tokens), weights, py::none(), false, "x");
  Matrix g;
  {
    py::gil_scoped_release nogil;
    g = attnflow::energy_gradient(model, m);
  }
  return matrix_to_numpy(std::move(g));
}

py::dict clusters(py::handle x, double threshold) {
  const Matrix tokens = token_matrix(x, "x");
  if (!std::isfinite(threshold) || threshold <= 0.0 || threshold >= 2.0)
    throw InputError("threshold", "must lie in (0, 2), got " + format_number(threshold));
  ClusterSummary s;
  {
    py::gil_scoped_release nogil;
    s = tokens.cols() <= 3 ? clusters_spatial(tokens, threshold)
                           : attnflow::clusters(tokens, threshold);
  }
  py::array_t<std::int64_t> labels(static_cast<py::ssize_t>(s.labels.size()));
  std::copy(s.labels.begin(), s.labels.end(), labels.mutable_data());
  py::dict out;
  out["count"] = s.count;
  out["labels"] = labels;
  out["pair_fraction"] = s.pair_fraction;
  return out;
}

double wasserstein2(py::handle x, py::handle y, py::handle a, py::handle b, py::handle pos_x,
                    py::handle pos_y, const std::string& method, double epsilon, int projections,
                    std::uint64_t seed) {
  const Matrix mx = token_matrix(x, "x"), my = token_matrix(y, "y");
  if (mx.cols() != my.cols())
    throw InputError("y", "must have the dimension of x (d = " + std::to_string(mx.cols()) +
                              "), got d = " + std::to_string(my.cols()));
  const std::vector<double> wa = token_weights(a, mx.rows(), "a"),
                            wb = token_weights(b, my.rows(), "b");
  const std::vector<double> pa = token_positions(pos_x, mx.rows(), "positions_x");
  const std::vector<double> pb = token_positions(pos_y, my.rows(), "positions_y");
  analysis::W2Options opt;
  opt.method = analysis::w2_method_from_name(method, "method");
  if (!std::isfinite(epsilon) || epsilon <= 0.0)
    throw InputError("epsilon", "must be finite and > 0, got " + format_number(epsilon));
  if (projections < 1)
    throw InputError("projections", "must be at least 1, got " + std::to_string(projections));
  opt.sinkhorn.epsilon = epsilon;
  opt.projections = projections;
  opt.seed = seed;
  py::gil_scoped_release nogil;
  return analysis::w2_distance(mx, wa, pa, my, wb, pb, opt);
}

/// The Gaussian reduction of [C] for a configuration (dict of sections without [init]) started from
/// N(mean, cov): io::parse_gaussian_config and the loop of `attnflow gaussian`.
py::dict gaussian_solve(py::handle config, py::handle mean_arg, py::handle cov_arg) {
  const std::vector<double> mean0 = vector_of(mean_arg, -1, "mean", "d entries");
  if (mean0.empty()) throw InputError("mean", "must have at least one entry");
  const Matrix cov0 = square_matrix(cov_arg, static_cast<Index>(mean0.size()), "cov");
  reduce::validate_covariance(cov0, cov0.rows(), "cov");
  toml::table root = to_table(config, "");
  if (root.contains("init"))
    throw InputError("init",
                     "the initial law is the mean and cov arguments; give no [init] section");
  toml::array mean_toml, cov_toml;
  for (double v : mean0) mean_toml.push_back(v);
  for (Index i = 0; i < cov0.rows(); ++i) {
    toml::array row;
    for (Index j = 0; j < cov0.cols(); ++j) row.push_back(cov0(i, j));
    cov_toml.push_back(std::move(row));
  }
  root.insert("init", toml::table{{"kind", "gaussian"},
                                  {"mean", std::move(mean_toml)},
                                  {"cov", std::move(cov_toml)}});
  const io::GaussianRunConfig cfg =
      io::parse_gaussian_config(toml_text(root), {}, working_directory());
  const io::RunConfig& run = cfg.run;
  const Index d = run.init.mean.size();
  reduce::GaussianSolveOptions opt;
  opt.integrate = run.integrate;
  opt.blowup_ratio = cfg.blowup_ratio;
  reduce::GaussianSolution sol;
  {
    py::gil_scoped_release nogil;
    sol = reduce::solve_gaussian(run.model, run.init.mean, run.init.cov, run.output.times, opt);
  }
  std::vector<const reduce::GaussianFrame*> frames;
  for (std::size_t k = 0; k < sol.frames.size(); ++k)
    if (run.output.record[k]) frames.push_back(&sol.frames[k]);
  const auto count = static_cast<py::ssize_t>(frames.size());
  py::array_t<double> t({count}), mean({count, static_cast<py::ssize_t>(d)}),
      cov({count, static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(d)}),
      eig({count, static_cast<py::ssize_t>(d)});
  py::array_t<std::int64_t> rank({count});
  for (py::ssize_t k = 0; k < count; ++k) {
    const reduce::GaussianFrame& f = *frames[static_cast<std::size_t>(k)];
    const reduce::NormalizedSpectrum spec = reduce::normalized_spectrum(f.cov, cfg.rank_tol);
    t.mutable_data()[k] = f.t;
    std::memcpy(mean.mutable_data() + k * d, f.mean.data(),
                sizeof(double) * static_cast<std::size_t>(d));
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < d; ++j) cov.mutable_data()[(k * d + i) * d + j] = f.cov(i, j);
    std::memcpy(eig.mutable_data() + k * d, spec.eigenvalues.data(),
                sizeof(double) * static_cast<std::size_t>(d));
    rank.mutable_data()[k] = static_cast<std::int64_t>(spec.rank);
  }
  py::dict out;
  out["t"] = t;
  out["mean"] = mean;
  out["cov"] = cov;
  out["eigenvalues"] = eig;
  out["rank"] = rank;
  out["blowup_time"] =
      sol.blowup_time ? py::object(py::float_(*sol.blowup_time)) : py::object(py::none());
  out["blowup_detected_at"] = sol.blowup_detected_at
                                  ? py::object(py::float_(*sol.blowup_detected_at))
                                  : py::object(py::none());
  out["steps"] = sol.stats.steps;
  out["evaluations"] = sol.stats.evaluations;
  out["config"] = cfg.resolved_toml;
  return out;
}

py::tuple gaussian_field(py::handle spec, py::handle mean, py::handle cov) {
  const std::vector<double> mv = vector_of(mean, -1, "mean", "d entries");
  const auto d = static_cast<Index>(mv.size());
  if (d < 1) throw InputError("mean", "must have at least one entry");
  const Matrix c = square_matrix(cov, d, "cov");
  reduce::validate_covariance(c, d, "cov");
  const Model model = to_model(spec, d);
  reduce::validate_gaussian_model(model);
  reduce::AffineField f = reduce::gaussian_field(model, Eigen::Map<const Vector>(mv.data(), d), c);
  std::vector<double> b(f.b.data(), f.b.data() + f.b.size());
  return py::make_tuple(vector_to_numpy(std::move(b)), matrix_to_numpy(std::move(f.M)));
}

double gaussian_w2(py::handle m1, py::handle s1, py::handle m2, py::handle s2) {
  const std::vector<double> a = vector_of(m1, -1, "m1", "d entries");
  const auto d = static_cast<Index>(a.size());
  const std::vector<double> b =
      vector_of(m2, d, "m2", std::to_string(d) + " entries (the length of m1)");
  const Matrix c1 = square_matrix(s1, d, "s1"), c2 = square_matrix(s2, d, "s2");
  reduce::validate_covariance(c1, d, "s1");
  reduce::validate_covariance(c2, d, "s2");
  return reduce::gaussian_w2(Eigen::Map<const Vector>(a.data(), d), c1,
                             Eigen::Map<const Vector>(b.data(), d), c2);
}

reduce::EquiangularParams equiangular_params(const std::string& kernel, std::int64_t n, double beta,
                                             double rho0, double r0,
                                             const std::string& normalization, double mix_time,
                                             double alpha) {
  reduce::EquiangularParams p;
  if (kernel == "softmax" || kernel == "sa") {
    p.kernel = KernelKind::softmax;
  } else if (kernel == "usa") {
    p.kernel = KernelKind::usa;
  } else {
    throw InputError("kernel", "unknown kernel '" + kernel + "'; allowed: softmax (sa), usa");
  }
  p.n = n;
  p.beta = beta;
  p.scheme = normalization_from_name(normalization, "normalization");
  p.mix_switch_time = mix_time;
  p.ngpt_alpha = alpha;
  reduce::validate_equiangular(p, rho0, r0, "rho0", "n");
  return p;
}

IntegrateOptions integrate_options(const std::string& method, double dt, double rtol, double atol) {
  IntegrateOptions o;
  o.method = method_from_name(method, "method");
  if (!std::isfinite(dt) || dt < 0.0 || (dt == 0.0 && o.method != Method::dopri5))
    throw InputError("dt", "must be finite and > 0, got " + format_number(dt));
  if (!std::isfinite(rtol) || rtol <= 0.0)
    throw InputError("rtol", "must be finite and > 0, got " + format_number(rtol));
  if (!std::isfinite(atol) || atol <= 0.0)
    throw InputError("atol", "must be finite and > 0, got " + format_number(atol));
  o.dt = dt;
  o.rtol = rtol;
  o.atol = atol;
  return o;
}

py::dict equiangular_solve(const std::string& kernel, std::int64_t n, double beta, double rho0,
                           py::handle times, double r0, const std::string& normalization,
                           double mix_time, double alpha, const std::string& method, double dt,
                           double rtol, double atol) {
  const reduce::EquiangularParams p =
      equiangular_params(kernel, n, beta, rho0, r0, normalization, mix_time, alpha);
  const IntegrateOptions o = integrate_options(method, dt, rtol, atol);
  const std::vector<double> requested = vector_of(times, -1, "times", "the output times");
  if (requested.empty()) throw InputError("times", "must list at least one time");
  for (std::size_t k = 0; k < requested.size(); ++k) {
    if (requested[k] < 0.0)
      throw InputError("times", "must be >= 0, got " + format_number(requested[k]));
    if (k > 0 && requested[k] <= requested[k - 1])
      throw InputError("times", "must be strictly increasing");
  }
  std::vector<double> grid = requested;
  const bool prepended = grid.front() > 0.0;
  if (prepended) grid.insert(grid.begin(), 0.0);
  std::vector<reduce::EquiangularFrame> frames;
  {
    py::gil_scoped_release nogil;
    frames = reduce::solve_equiangular(p, rho0, r0, grid, o);
  }
  if (prepended && !frames.empty()) frames.erase(frames.begin());
  const auto count = static_cast<py::ssize_t>(frames.size());
  py::array_t<double> t({count}), rho({count}), r({count});
  for (py::ssize_t k = 0; k < count; ++k) {
    t.mutable_data()[k] = frames[static_cast<std::size_t>(k)].t;
    rho.mutable_data()[k] = frames[static_cast<std::size_t>(k)].rho;
    r.mutable_data()[k] = frames[static_cast<std::size_t>(k)].r;
  }
  return py::dict("t"_a = t, "rho"_a = rho, "r"_a = r);
}

double equiangular_hitting_time(const std::string& kernel, std::int64_t n, double beta, double rho0,
                                double threshold, double r0, const std::string& normalization,
                                double mix_time, double alpha, double rtol, double atol) {
  const reduce::EquiangularParams p =
      equiangular_params(kernel, n, beta, rho0, r0, normalization, mix_time, alpha);
  const double lower = -1.0 / static_cast<double>(n - 1);
  if (!std::isfinite(threshold) || threshold <= lower || threshold >= 1.0)
    throw InputError("threshold", "must lie in (-1/(n-1), 1) = (" + format_number(lower) +
                                      ", 1), got " + format_number(threshold));
  const IntegrateOptions o = integrate_options("dopri5", 0.0, rtol, atol);
  py::gil_scoped_release nogil;
  return reduce::equiangular_hitting_time(p, rho0, r0, threshold, o);
}

py::dict load(const std::string& path) {
  std::filesystem::path file(path);
  if (std::filesystem::is_directory(file)) file /= "run.h5";
  const io::RunReader reader(file);
  py::dict out;
  out["path"] = file.string();
  out["version"] = reader.version();
  out["config"] = reader.config_text();
  out["t"] = vector_to_numpy(std::vector<double>(reader.times()));
  out["weights"] = vector_to_numpy(std::vector<double>(reader.weights()));
  out["positions"] = vector_to_numpy(std::vector<double>(reader.positions()));
  if (reader.has_trajectory()) {
    const auto frames = static_cast<py::ssize_t>(reader.frames());
    py::array_t<double> x(
        {frames, static_cast<py::ssize_t>(reader.n()), static_cast<py::ssize_t>(reader.d())});
    const std::size_t frame_size = static_cast<std::size_t>(reader.n() * reader.d());
    for (std::size_t k = 0; k < reader.frames(); ++k) {
      const Matrix f = reader.frame(k);
      std::memcpy(x.mutable_data() + k * frame_size, f.data(), sizeof(double) * frame_size);
    }
    out["x"] = x;
  } else {
    out["x"] = py::none();
  }
  py::dict series;
  for (const ObservableInfo& info : kObservables) {
    const std::string name(info.name);
    if (reader.has_series(name)) series[py::str(name)] = vector_to_numpy(reader.series(name));
  }
  out["observables"] = series;
  return out;
}

std::string run(py::handle config, const std::string& outdir,
                const std::vector<std::string>& overrides) {
  const io::RunConfig cfg = to_run_config(config, overrides);
  return io::run_experiment(cfg, outdir).dump();
}

py::tuple initial_tokens(py::handle config, const std::vector<std::string>& overrides) {
  const io::RunConfig cfg = to_run_config(config, overrides);
  Measure m = io::initial_measure(cfg.init, cfg.model.geometry);
  return py::make_tuple(matrix_to_numpy(std::move(m.x)), vector_to_numpy(std::move(m.weights)),
                        vector_to_numpy(std::move(m.positions)));
}

Index positive_index(std::int64_t v, const std::string& name) {
  if (v < 1) throw InputError(name, "must be at least 1, got " + std::to_string(v));
  return static_cast<Index>(v);
}

}  // namespace

}  // namespace attnflow::python

PYBIND11_MODULE(_attnflow, m) {
  using namespace attnflow;
  using namespace attnflow::python;
  m.doc() = "attnflow's C++ engine; use the documented wrappers of the attnflow package.";
  m.attr("__version__") = ATTNFLOW_VERSION;

  // Exceptions: kept alive for the life of the process (never decref'ed at interpreter exit).
  static PyObject* input_error = PyErr_NewExceptionWithDoc(
      "attnflow.InputError",
      "A problem with an argument or a configuration key that the caller can fix: a ValueError "
      "whose text "
      "is '<key>: <what is wrong, what is allowed>', the message `attnflow` prints as 'error: "
      "...'. "
      ".key is the configuration key (e.g. 'model.beta') or argument name (e.g. 'x').",
      PyExc_ValueError, nullptr);
  static PyObject* numerical_error = PyErr_NewExceptionWithDoc(
      "attnflow.NumericalError",
      "The state became non-finite (NaN or infinity) during an integration (the CLI exits with "
      "status 3). "
      "attnflow.simulate attaches .result, the frames up to the last good output time.",
      PyExc_RuntimeError, nullptr);
  m.attr("InputError") = py::handle(input_error);
  m.attr("NumericalError") = py::handle(numerical_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InputError& e) {
      py::object err = py::reinterpret_borrow<py::object>(input_error)(e.what());
      err.attr("key") = e.key();
      PyErr_SetObject(input_error, err.ptr());
    } catch (const NumericalError& e) {
      PyErr_SetString(numerical_error, e.what());
    }
  });

  py::list kernels;
  for (const KernelInfo& k : kKernels)
    kernels.append(py::dict("name"_a = std::string(k.name), "summary"_a = std::string(k.summary),
                            "reference"_a = std::string(k.reference),
                            "normalized"_a = k.normalized));
  m.attr("KERNELS") = kernels;
  py::list observables;
  for (const ObservableInfo& o : kObservables)
    observables.append(
        py::dict("name"_a = std::string(o.name), "summary"_a = std::string(o.summary),
                 "needs_unmasked"_a = o.needs_unmasked, "needs_sinkhorn"_a = o.needs_sinkhorn));
  m.attr("OBSERVABLES") = observables;

  m.def("set_threads", [](int n) {
    if (n < 0) throw InputError("threads", "must be >= 0 (0: all cores), got " + std::to_string(n));
    omp_set_num_threads(n == 0 ? omp_get_num_procs() : n);
  });
  m.def("get_threads", []() { return omp_get_max_threads(); });

  m.def("model_info", &model_info, "model"_a, "d"_a);
  m.def("velocity", &attnflow::python::velocity, "model"_a, "x"_a, "t"_a = 0.0,
        "weights"_a = py::none(), "positions"_a = py::none(), "raw"_a = false);
  m.def("simulate", &simulate, "config"_a, "x0"_a, "weights"_a = py::none(),
        "positions"_a = py::none(), "gaussian_mean"_a = py::none(), "gaussian_cov"_a = py::none());
  m.def("energy", &attnflow::python::energy, "model"_a, "x"_a, "weights"_a = py::none(),
        "kind"_a = "energy", "log"_a = false);
  m.def("energy_gradient", &attnflow::python::energy_gradient, "model"_a, "x"_a,
        "weights"_a = py::none());
  m.def("clusters", &attnflow::python::clusters, "x"_a, "threshold"_a = 1e-3);
  m.def("wasserstein2", &attnflow::python::wasserstein2, "x"_a, "y"_a, "a"_a = py::none(),
        "b"_a = py::none(), "positions_x"_a = py::none(), "positions_y"_a = py::none(),
        "method"_a = "exact", "epsilon"_a = 1e-2, "projections"_a = 200, "seed"_a = 0);
  m.def("gaussian_solve", &gaussian_solve, "config"_a, "mean"_a, "cov"_a);
  m.def("gaussian_field", &gaussian_field, "model"_a, "mean"_a, "cov"_a);
  m.def("gaussian_w2", &gaussian_w2, "m1"_a, "s1"_a, "m2"_a, "s2"_a);
  m.def("equiangular_solve", &equiangular_solve, "kernel"_a, "n"_a, "beta"_a, "rho0"_a, "times"_a,
        "r0"_a, "normalization"_a, "mix_time"_a, "alpha"_a, "method"_a, "dt"_a, "rtol"_a, "atol"_a);
  m.def("equiangular_hitting_time", &equiangular_hitting_time, "kernel"_a, "n"_a, "beta"_a,
        "rho0"_a, "threshold"_a, "r0"_a, "normalization"_a, "mix_time"_a, "alpha"_a, "rtol"_a,
        "atol"_a);
  m.def("load", &load, "path"_a);
  m.def("run", &run, "config"_a, "outdir"_a, "overrides"_a = std::vector<std::string>{});
  m.def("initial_tokens", &initial_tokens, "config"_a, "overrides"_a = std::vector<std::string>{});
  m.def(
      "uniform_sphere",
      [](std::int64_t n, std::int64_t d, std::uint64_t seed) {
        return matrix_to_numpy(
            sample_uniform_sphere(positive_index(n, "n"), positive_index(d, "d"), seed));
      },
      "n"_a, "d"_a, "seed"_a = 0);
  m.def(
      "gaussian_tokens",
      [](std::int64_t n, py::handle mean, py::handle cov, std::uint64_t seed) {
        const std::vector<double> mv = vector_of(mean, -1, "mean", "d entries");
        const auto d = static_cast<Index>(mv.size());
        if (d < 1) throw InputError("mean", "must have at least one entry");
        const Matrix c = square_matrix(cov, d, "cov");
        return matrix_to_numpy(sample_gaussian(positive_index(n, "n"),
                                               Eigen::Map<const Vector>(mv.data(), d), c, seed));
      },
      "n"_a, "mean"_a, "cov"_a, "seed"_a = 0);
  m.def(
      "equiangular_tokens",
      [](std::int64_t n, std::int64_t d, double rho) {
        return matrix_to_numpy(
            equiangular_points(positive_index(n, "n"), positive_index(d, "d"), rho));
      },
      "n"_a, "d"_a, "rho"_a);
}
