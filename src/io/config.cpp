#include "attnflow/io/config.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "attnflow/error.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/io/matrix_spec.hpp"
#include "attnflow/io/model_table.hpp"
#include "attnflow/io/npy.hpp"
#include "attnflow/io/toml_helpers.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/observables.hpp"

namespace attnflow::io {

namespace {

using namespace toml_util;  // typed reads, check_keys, apply_override (io/toml_helpers.hpp)

Model parse_model(const toml::table* t, const MatrixContext& ctx) {
  const Index d = ctx.d;
  Model m;
  if (t == nullptr) return identity_model(d, 1.0);
  check_keys(*t, "model",
             {"geometry", "kernel", "beta", "Q", "K", "V", "W", "heads", "causal", "sigmoid_bias",
              "sinkhorn_iters", "sinkhorn_tol", "normalization", "mix_tau", "ngpt_alpha", "noise",
              "noise_seed", "head_normalization", "precision"});
  if (const auto* n = t->get("geometry")) {
    const std::string name = to_string(*n, "model.geometry");
    m.geometry = geometry_from_name(name, "model.geometry");
    // The circle of [R] (Kuramoto-type angle dynamics) is the sphere S¹: tokens (cos θ, sin θ).
    if (name == "circle" && d != 2)
      throw InputError("model.geometry",
                       "'circle' needs tokens in R^2 (init.d = 2), got d = " + std::to_string(d));
  }
  // Default scheme: the one the geometry implies (sphere: Post-LN, R^d: none).
  if (const auto* n = t->get("normalization"))
    m.normalization =
        normalization_from_name(to_string(*n, "model.normalization"), "model.normalization");
  if (const auto* n = t->get("mix_tau")) m.mix_tau = to_number(*n, "model.mix_tau");
  if (const auto* n = t->get("ngpt_alpha")) m.ngpt_alpha = to_number(*n, "model.ngpt_alpha");
  if (const auto* n = t->get("noise")) m.noise = to_number(*n, "model.noise");
  if (const auto* n = t->get("noise_seed")) {
    const std::int64_t v = to_integer(*n, "model.noise_seed");
    if (v < 0) throw InputError("model.noise_seed", "must be >= 0, got " + std::to_string(v));
    m.noise_seed = static_cast<std::uint64_t>(v);
  }
  if (const auto* n = t->get("kernel"))
    m.kernel = kernel_from_name(to_string(*n, "model.kernel"), "model.kernel");
  MatrixSchedule beta = MatrixSchedule::constant(Matrix::Constant(1, 1, m.beta));
  if (const auto* n = t->get("beta")) {
    beta = parse_scalar_spec(*n, "model.beta", ctx);
    m.beta = beta.at(0.0)(0, 0);
  }
  if (const auto* n = t->get("causal")) m.causal = to_bool(*n, "model.causal");
  if (const auto* n = t->get("head_normalization"))
    m.head_normalization = head_normalization_from_name(to_string(*n, "model.head_normalization"),
                                                        "model.head_normalization");
  if (const auto* n = t->get("precision"))
    m.precision = precision_from_name(to_string(*n, "model.precision"), "model.precision");
  if (const auto* n = t->get("sigmoid_bias"))
    m.sigmoid_bias = finite_number(*n, "model.sigmoid_bias");
  if (const auto* n = t->get("sinkhorn_iters")) {
    const std::int64_t v = to_integer(*n, "model.sinkhorn_iters");
    if (v < 1 || v > 1'000'000)
      throw InputError(
          "model.sinkhorn_iters",
          "must be an integer in [1, 1000000] (1 = softmax), got " + std::to_string(v));
    m.sinkhorn_iters = static_cast<int>(v);
  }
  if (const auto* n = t->get("sinkhorn_tol"))
    m.sinkhorn_tol = positive_number(*n, "model.sinkhorn_tol");
  const Matrix identity = Matrix::Identity(d, d);
  auto schedule = std::make_shared<ModelSchedule>();
  schedule->beta = beta;
  // Each matrix is an array or a spec table (io/matrix_spec.hpp); the head holds its value at t =
  // 0.
  auto read_head = [&](const toml::table& h, const std::string& key) {
    HeadSchedule hs{MatrixSchedule::constant(identity), MatrixSchedule::constant(identity),
                    MatrixSchedule::constant(identity), MatrixSchedule::constant(Matrix())};
    if (const auto* n = h.get("Q")) hs.Q = parse_matrix_spec(*n, key + ".Q", ctx);
    if (const auto* n = h.get("K")) hs.K = parse_matrix_spec(*n, key + ".K", ctx);
    if (const auto* n = h.get("V")) hs.V = parse_matrix_spec(*n, key + ".V", ctx);
    if (const auto* n = h.get("W")) hs.W = parse_matrix_spec(*n, key + ".W", ctx);
    schedule->heads.push_back(hs);
    return Head{hs.Q.at(0.0), hs.K.at(0.0), hs.V.at(0.0), hs.W.at(0.0)};
  };
  if (const auto* heads = t->get("heads")) {
    for (std::string_view k : {"Q", "K", "V", "W"})
      if (t->contains(k))
        throw InputError("model." + std::string(k),
                         "give the matrices either in model or in [[model.heads]], not both");
    const auto* a = heads->as_array();
    if (a == nullptr || a->empty() || !a->is_array_of_tables())
      throw InputError("model.heads", "must be a non-empty array of tables ([[model.heads]])");
    for (std::size_t h = 0; h < a->size(); ++h) {
      const std::string key = "model.heads[" + std::to_string(h) + "]";
      const toml::table& ht = *a->get(h)->as_table();
      check_keys(ht, key, {"Q", "K", "V", "W"});
      m.heads.push_back(read_head(ht, key));
    }
  } else {
    m.heads.push_back(read_head(*t, "model"));
  }
  validate_model(m, d, t->contains("heads"));
  if (!schedule->is_constant()) {
    // β(t) must stay > 0 along the run, not only at t = 0: checked on a fine grid of [0, t_end]
    // (per-layer and OU values are piecewise constant / linear between grid points it contains).
    if (!beta.is_constant()) {
      const double t_end = std::max(ctx.t_end, 1.0);
      for (int k = 0; k <= 4096; ++k) {
        const double tk = t_end * k / 4096.0;
        const double b = beta.at(tk)(0, 0);
        if (!(b > 0.0) || !std::isfinite(b))
          throw InputError("model.beta", "must stay finite and > 0 along its schedule; it is " +
                                             number_text(b) + " at t = " + number_text(tk));
      }
    }
    m.schedule = std::move(schedule);
  }
  return m;
}

}  // namespace

Model parse_model_table(const toml::table* table, Index d) {
  MatrixContext ctx;
  ctx.d = d;
  return parse_model(table, ctx);
}

RunConfig parse_config(const std::string& text, const std::vector<std::string>& overrides,
                       const std::filesystem::path& base_dir) {
  toml::table root = parse_toml(text);
  for (const std::string& o : overrides) apply_override(root, o);
  for (const auto& [key, node] : root)
    if (key != "model" && key != "init" && key != "integrate" && key != "output")
      throw InputError(std::string(key.str()),
                       "unknown section; allowed: model, init, integrate, output");

  RunConfig cfg;
  // [init] first: it fixes the dimension d every matrix is checked against.
  InitConfig& init = cfg.init;
  if (const toml::table* t = section_table(root, "init")) {
    check_keys(
        *t, "init",
        {"kind", "n", "d", "seed", "points", "path", "mean", "cov", "rho", "weights", "positions"});
    if (const auto* n = t->get("kind")) init.kind = to_string(*n, "init.kind");
    static const std::set<std::string> kinds{"uniform_sphere", "gaussian", "points", "file",
                                             "equiangular"};
    if (!kinds.contains(init.kind))
      throw InputError("init.kind",
                       "unknown kind '" + init.kind +
                           "'; allowed: uniform_sphere, gaussian, points, file, equiangular");
    if (const auto* n = t->get("n")) {
      const std::int64_t v = to_integer(*n, "init.n");
      if (v < 1) throw InputError("init.n", "must be at least 1, got " + std::to_string(v));
      init.n = v;
    }
    if (const auto* n = t->get("d")) {
      const std::int64_t v = to_integer(*n, "init.d");
      if (v < 1) throw InputError("init.d", "must be at least 1, got " + std::to_string(v));
      init.d = v;
    }
    if (const auto* n = t->get("seed")) {
      const std::int64_t v = to_integer(*n, "init.seed");
      if (v < 0) throw InputError("init.seed", "must be >= 0, got " + std::to_string(v));
      init.seed = static_cast<std::uint64_t>(v);
    }
    if (init.kind == "points") {
      const auto* n = t->get("points");
      if (n == nullptr) throw InputError("init.points", "is required when init.kind = \"points\"");
      init.points = to_matrix(*n, "init.points");
      init.n = init.points.rows();
      init.d = init.points.cols();
    }
    if (init.kind == "file") {
      const auto* n = t->get("path");
      if (n == nullptr) throw InputError("init.path", "is required when init.kind = \"file\"");
      init.path = to_string(*n, "init.path");
      if (init.path.is_relative()) init.path = base_dir / init.path;
      // Read now: the file fixes n and d, which every matrix of [model] is checked against.
      const NpyArray a = read_npy(init.path, "init.path");
      if (a.shape.size() != 2)
        throw InputError("init.path", "must hold a 2-D array (n x d), got " +
                                          std::to_string(a.shape.size()) + " dimensions");
      init.points = Eigen::Map<const Matrix>(a.data.data(), static_cast<Index>(a.shape[0]),
                                             static_cast<Index>(a.shape[1]));
      init.n = init.points.rows();
      init.d = init.points.cols();
    }
    if (const auto* n = t->get("mean")) {
      const auto v = to_vector(*n, "init.mean");
      init.mean = Eigen::Map<const Vector>(v.data(), static_cast<Index>(v.size()));
      init.d = init.mean.size();
    }
    if (const auto* n = t->get("cov")) init.cov = to_matrix(*n, "init.cov");
    if (const auto* n = t->get("rho")) init.rho = finite_number(*n, "init.rho");
    if (const auto* n = t->get("weights")) init.weights = to_vector(*n, "init.weights");
    if (const auto* n = t->get("positions")) init.positions = to_vector(*n, "init.positions");
  }
  if (init.kind == "gaussian") {
    if (init.mean.size() == 0) init.mean = Vector::Zero(init.d);
    if (init.cov.size() == 0) init.cov = Matrix::Identity(init.d, init.d);
  }

  // The dimension of a file start is only known once it is read; the run driver re-validates.
  if (const toml::table* t = section_table(root, "integrate")) {
    check_keys(*t, "integrate", {"method", "dt", "t_end", "rtol", "atol", "max_steps"});
    if (const auto* n = t->get("method"))
      cfg.integrate.method =
          method_from_name(to_string(*n, "integrate.method"), "integrate.method");
    if (const auto* n = t->get("dt")) cfg.integrate.dt = positive_number(*n, "integrate.dt");
    if (const auto* n = t->get("t_end")) {
      cfg.t_end = finite_number(*n, "integrate.t_end");
      if (cfg.t_end < 0.0)
        throw InputError("integrate.t_end",
                         "must be finite and >= 0, got " + number_text(cfg.t_end));
    }
    if (const auto* n = t->get("rtol")) cfg.integrate.rtol = positive_number(*n, "integrate.rtol");
    if (const auto* n = t->get("atol")) cfg.integrate.atol = positive_number(*n, "integrate.atol");
    if (const auto* n = t->get("max_steps")) {
      const std::int64_t v = to_integer(*n, "integrate.max_steps");
      if (v < 1)
        throw InputError("integrate.max_steps", "must be at least 1, got " + std::to_string(v));
      cfg.integrate.max_steps = static_cast<std::uint64_t>(v);
    }
  }

  MatrixContext matrix_context;
  matrix_context.d = init.d;
  matrix_context.t_end = cfg.t_end;
  matrix_context.base_dir = base_dir;
  cfg.model = parse_model(section_table(root, "model"), matrix_context);

  if (cfg.model.noise > 0.0 && cfg.integrate.method != Method::euler)
    throw InputError("integrate.method",
                     "model.noise > 0 needs method = \"euler\" (Euler-Maruyama); got \"" +
                         std::string(method_name(cfg.integrate.method)) + "\"");

  OutputConfig& out = cfg.output;
  double every = cfg.t_end / 100.0;
  std::vector<double> times;
  if (const toml::table* t = section_table(root, "output")) {
    check_keys(*t, "output", {"every", "times", "trajectory", "observables", "cluster_threshold"});
    if (t->contains("every") && t->contains("times"))
      throw InputError("output.times", "give either output.every or output.times, not both");
    if (const auto* n = t->get("every")) every = positive_number(*n, "output.every");
    if (const auto* n = t->get("times")) {
      times = to_vector(*n, "output.times");
      if (times.empty()) throw InputError("output.times", "must list at least one time");
      for (std::size_t i = 0; i < times.size(); ++i) {
        if (times[i] < 0.0 || times[i] > cfg.t_end)
          throw InputError("output.times", "must lie in [0, integrate.t_end] = [0, " +
                                               number_text(cfg.t_end) + "], got " +
                                               number_text(times[i]));
        if (i > 0 && times[i] <= times[i - 1])
          throw InputError("output.times", "must be strictly increasing");
      }
    }
    if (const auto* n = t->get("trajectory")) out.trajectory = to_bool(*n, "output.trajectory");
    if (const auto* n = t->get("observables")) {
      const auto* a = n->as_array();
      if (a == nullptr) throw InputError("output.observables", "must be an array of strings");
      out.observables.clear();
      for (std::size_t i = 0; i < a->size(); ++i) {
        std::string name = to_string(*a->get(i), "output.observables[" + std::to_string(i) + "]");
        if (std::find(out.observables.begin(), out.observables.end(), name) !=
            out.observables.end())
          throw InputError("output.observables", "'" + name + "' is listed twice");
        out.observables.push_back(std::move(name));
      }
    }
    if (const auto* n = t->get("cluster_threshold")) {
      out.cluster_threshold = finite_number(*n, "output.cluster_threshold");
      if (out.cluster_threshold <= 0.0 || out.cluster_threshold >= 2.0)
        throw InputError("output.cluster_threshold",
                         "must lie in (0, 2), got " + number_text(out.cluster_threshold));
    }
  }
  validate_observables(out.observables, cfg.model, "output.observables");
  if (times.empty()) {
    // Frames at 0, every, 2·every, ... and t_end, computed as k·every (no accumulated drift).
    if (cfg.t_end == 0.0) every = 1.0;
    for (std::int64_t k = 0;; ++k) {
      const double t = static_cast<double>(k) * every;
      if (t >= cfg.t_end * (1.0 - 1e-12)) break;
      times.push_back(t);
    }
    times.push_back(cfg.t_end);
  }
  if (times.front() > 0.0) {
    out.times.push_back(0.0);
    out.record.push_back(false);
  }
  const std::vector<double> breakpoints =
      cfg.model.schedule ? cfg.model.schedule->breakpoints(cfg.t_end) : std::vector<double>{};
  for (double t : times) {
    // Mix-LN switches equations at τ: the ODE integrators stop there exactly (an unrecorded stop);
    // euler layers switch at the first layer that starts at or after τ.
    const double tau = cfg.model.mix_tau;
    if (effective_normalization(cfg.model) == Normalization::mix_ln &&
        cfg.integrate.method != Method::euler && !out.times.empty() && tau > out.times.back() &&
        tau < t && tau < cfg.t_end) {
      out.times.push_back(tau);
      out.record.push_back(false);
    }
    // Per-layer weights jump at layer boundaries and OU paths have kinks at their grid points: the
    // ODE integrators stop there too, so every step sees smooth weights and keeps its order
    // (breakpoints within 1e-9 of an output time are that output time).
    if (cfg.model.schedule && cfg.integrate.method != Method::euler && !out.times.empty())
      for (double jump : breakpoints)
        if (jump > out.times.back() + 1e-9 * std::max(1.0, jump) &&
            jump < t - 1e-9 * std::max(1.0, t)) {
          out.times.push_back(jump);
          out.record.push_back(false);
        }
    out.times.push_back(t);
    out.record.push_back(true);
  }

  // The resolved configuration: the user's table after overrides, with every default written out.
  toml::table resolved = root;
  auto ensure = [&resolved](const char* section) -> toml::table& {
    if (!resolved.contains(section)) resolved.insert(section, toml::table{});
    return *resolved.get(section)->as_table();
  };
  toml::table& rm = ensure("model");
  rm.insert("geometry", std::string(geometry_name(cfg.model.geometry)));
  rm.insert("kernel", std::string(kernel_info(cfg.model.kernel).name));
  rm.insert("beta", cfg.model.beta);
  rm.insert("causal", cfg.model.causal);
  rm.insert("normalization", std::string(normalization_name(effective_normalization(cfg.model))));
  if (effective_normalization(cfg.model) == Normalization::mix_ln)
    rm.insert("mix_tau", cfg.model.mix_tau);
  if (effective_normalization(cfg.model) == Normalization::ngpt)
    rm.insert("ngpt_alpha", cfg.model.ngpt_alpha);
  if (cfg.model.head_normalization != HeadNormalization::per_head)
    rm.insert("head_normalization",
              std::string(head_normalization_name(cfg.model.head_normalization)));
  if (cfg.model.precision != Precision::float64)
    rm.insert("precision", std::string(precision_name(cfg.model.precision)));
  if (cfg.model.noise > 0.0) {
    rm.insert("noise", cfg.model.noise);
    rm.insert("noise_seed", static_cast<std::int64_t>(cfg.model.noise_seed));
  }
  if (cfg.model.kernel == KernelKind::sinkhorn) {
    rm.insert("sinkhorn_iters", static_cast<std::int64_t>(cfg.model.sinkhorn_iters));
    rm.insert("sinkhorn_tol", cfg.model.sinkhorn_tol);
  }
  toml::table& ri = ensure("init");
  ri.insert("kind", init.kind);
  ri.insert("n", static_cast<std::int64_t>(init.n));
  ri.insert("d", static_cast<std::int64_t>(init.d));
  ri.insert("seed", static_cast<std::int64_t>(init.seed));
  toml::table& rt = ensure("integrate");
  rt.insert("method", std::string(method_name(cfg.integrate.method)));
  rt.insert("dt", cfg.integrate.dt);
  rt.insert("t_end", cfg.t_end);
  rt.insert("rtol", cfg.integrate.rtol);
  rt.insert("atol", cfg.integrate.atol);
  toml::table& ro = ensure("output");
  if (!ro.contains("times")) ro.insert("every", every);
  ro.insert("trajectory", out.trajectory);
  toml::array obs;
  for (const auto& o : out.observables) obs.push_back(o);
  ro.insert_or_assign("observables", obs);
  ro.insert("cluster_threshold", out.cluster_threshold);
  std::ostringstream text_out;
  text_out << resolved << "\n";
  cfg.resolved_toml = text_out.str();
  return cfg;
}

RunConfig load_config(const std::filesystem::path& path,
                      const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError("config", "cannot read '" + path.string() + "': no such file or not readable");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), overrides, path.parent_path());
}

}  // namespace attnflow::io
