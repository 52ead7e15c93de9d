#include "attnflow/io/reduce_config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "attnflow/error.hpp"
#include "attnflow/io/toml_helpers.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/reduce/gaussian.hpp"

namespace attnflow::io {

namespace {

using namespace toml_util;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError("config", "cannot read '" + path.string() + "': no such file or not readable");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string serialise(const toml::table& table) {
  std::ostringstream out;
  out << table << "\n";
  return out.str();
}

/// Output times from an [output] table, with the semantics of `attnflow run` (config.cpp): frames
/// at 0, every, 2·every, …, t_end, or the listed times; t = 0 is prepended unrecorded if missing.
void resolve_output_times(const toml::table* output, double t_end, std::vector<double>& out_times,
                          std::vector<bool>& record, double& every) {
  every = t_end / 100.0;
  std::vector<double> times;
  if (output != nullptr) {
    if (output->contains("every") && output->contains("times"))
      throw InputError("output.times", "give either output.every or output.times, not both");
    if (const auto* n = output->get("every")) every = positive_number(*n, "output.every");
    if (const auto* n = output->get("times")) {
      times = to_vector(*n, "output.times");
      if (times.empty()) throw InputError("output.times", "must list at least one time");
      for (std::size_t i = 0; i < times.size(); ++i) {
        if (times[i] < 0.0 || times[i] > t_end)
          throw InputError("output.times", "must lie in [0, integrate.t_end] = [0, " +
                                               number_text(t_end) + "], got " +
                                               number_text(times[i]));
        if (i > 0 && times[i] <= times[i - 1])
          throw InputError("output.times", "must be strictly increasing");
      }
    }
  }
  if (times.empty()) {
    if (t_end == 0.0) every = 1.0;
    for (std::int64_t k = 0;; ++k) {
      const double t = static_cast<double>(k) * every;
      if (t >= t_end * (1.0 - 1e-12)) break;
      times.push_back(t);
    }
    times.push_back(t_end);
  }
  out_times.clear();
  record.clear();
  if (times.front() > 0.0) {
    out_times.push_back(0.0);
    record.push_back(false);
  }
  for (double t : times) {
    out_times.push_back(t);
    record.push_back(true);
  }
}

std::vector<int> to_int_vector(const toml::node& n, const std::string& key) {
  const auto* a = n.as_array();
  if (a == nullptr) throw InputError(key, "must be an array of integers, got " + type_name(n));
  std::vector<int> v;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const std::int64_t x = to_integer(*a->get(i), key + "[" + std::to_string(i) + "]");
    if (x < -1'000'000 || x > 1'000'000) throw InputError(key, "entries must lie in [-1e6, 1e6]");
    v.push_back(static_cast<int>(x));
  }
  return v;
}

/// [model] of the circle commands: geometry (only "circle"), kernel, beta (validated by the
/// caller, whose β range depends on the clock).
void parse_circle_model(const toml::table& root, const std::string& command, KernelKind& kernel,
                        double& beta) {
  const toml::table* t = section_table(root, "model");
  if (t == nullptr) return;
  check_keys(*t, "model", {"geometry", "kernel", "beta"});
  if (const auto* n = t->get("geometry")) {
    const std::string g = to_string(*n, "model.geometry");
    if (g != "circle")
      throw InputError("model.geometry",
                       "attnflow " + command + " simulates geometry = \"circle\", got '" + g + "'");
  }
  if (const auto* n = t->get("kernel"))
    kernel = kernel_from_name(to_string(*n, "model.kernel"), "model.kernel");
  if (const auto* n = t->get("beta")) beta = to_number(*n, "model.beta");
}

/// The resolved [model] of a circle command.
void write_circle_model(toml::table& model, KernelKind kernel, double beta) {
  model.insert_or_assign("geometry", "circle");
  model.insert_or_assign("kernel", std::string(kernel_info(kernel).name));
  model.insert_or_assign("beta", beta);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// gaussian

GaussianRunConfig parse_gaussian_config(const std::string& text,
                                        const std::vector<std::string>& overrides,
                                        const std::filesystem::path& base_dir) {
  toml::table root = parse_toml(text);
  std::vector<std::string> run_overrides;
  toml::table extra;
  if (const auto* n = root.get("gaussian")) {
    if (!n->is_table())
      throw InputError("gaussian", "must be a table ([gaussian]), got " + type_name(*n));
    extra.insert("gaussian", *n->as_table());
  }
  for (const std::string& o : overrides) {
    if (o.rfind("gaussian.", 0) == 0) {
      apply_override(extra, o);
    } else {
      run_overrides.push_back(o);
    }
  }
  root.erase("gaussian");
  GaussianRunConfig cfg;
  cfg.run = parse_config(serialise(root), run_overrides, base_dir);
  toml::table resolved_extra;
  if (const toml::table* g = section_table(extra, "gaussian")) {
    check_keys(*g, "gaussian", {"rank_tol", "blowup_ratio"});
    if (const auto* n = g->get("rank_tol")) {
      cfg.rank_tol = finite_number(*n, "gaussian.rank_tol");
      if (cfg.rank_tol <= 0.0 || cfg.rank_tol >= 1.0)
        throw InputError("gaussian.rank_tol", "must lie in (0, 1) (a fraction of tr S), got " +
                                                  number_text(cfg.rank_tol));
    }
    if (const auto* n = g->get("blowup_ratio")) {
      cfg.blowup_ratio = finite_number(*n, "gaussian.blowup_ratio");
      if (cfg.blowup_ratio <= 1.0)
        throw InputError("gaussian.blowup_ratio",
                         "must be finite and > 1, got " + number_text(cfg.blowup_ratio));
    }
  }
  const RunConfig& run = cfg.run;
  if (run.init.kind != "gaussian")
    throw InputError("init.kind",
                     "the Gaussian reduction starts from init.kind = \"gaussian\" (init.mean, "
                     "init.cov), got '" +
                         run.init.kind + "'");
  reduce::validate_gaussian_model(run.model);
  reduce::validate_covariance(run.init.cov, run.init.mean.size(), "init.cov");
  toml::table g;
  g.insert("rank_tol", cfg.rank_tol);
  g.insert("blowup_ratio", cfg.blowup_ratio);
  resolved_extra.insert("gaussian", g);
  cfg.resolved_toml = run.resolved_toml + "\n" + serialise(resolved_extra);
  return cfg;
}

GaussianRunConfig load_gaussian_config(const std::filesystem::path& path,
                                       const std::vector<std::string>& overrides) {
  return parse_gaussian_config(read_file(path), overrides, path.parent_path());
}

// ---------------------------------------------------------------------------------------------
// circle

CircleConfig parse_circle_config(const std::string& text,
                                 const std::vector<std::string>& overrides) {
  toml::table root = parse_toml(text);
  for (const std::string& o : overrides) apply_override(root, o);
  for (const auto& [key, node] : root) {
    const std::string_view k = key.str();
    if (k != "model" && k != "init" && k != "grid" && k != "particles" && k != "integrate" &&
        k != "output")
      throw InputError(std::string(k),
                       "unknown section; allowed: model, init, grid, particles, integrate, output");
  }
  CircleConfig cfg;
  parse_circle_model(root, "circle", cfg.kernel, cfg.beta);
  reduce::validate_circle_model(cfg.kernel, cfg.beta);

  reduce::CircleDensity& d = cfg.density;
  std::string kind = "perturbed_uniform";
  if (const toml::table* t = section_table(root, "init")) {
    check_keys(*t, "init",
               {"kind", "modes", "amplitudes", "phases", "centers", "kappas", "weights"});
    if (const auto* n = t->get("kind")) kind = to_string(*n, "init.kind");
    if (kind == "perturbed_uniform") {
      d.kind = reduce::CircleDensity::Kind::perturbed_uniform;
      for (std::string_view k : {"centers", "kappas", "weights"})
        if (t->contains(k))
          throw InputError("init." + std::string(k), "belongs to init.kind = \"von_mises\"");
      if (const auto* n = t->get("modes")) d.modes = to_int_vector(*n, "init.modes");
      if (const auto* n = t->get("amplitudes")) d.amplitudes = to_vector(*n, "init.amplitudes");
      if (const auto* n = t->get("phases")) d.phases = to_vector(*n, "init.phases");
    } else if (kind == "von_mises") {
      d.kind = reduce::CircleDensity::Kind::von_mises;
      for (std::string_view k : {"modes", "amplitudes", "phases"})
        if (t->contains(k))
          throw InputError("init." + std::string(k),
                           "belongs to init.kind = \"perturbed_uniform\"");
      if (const auto* n = t->get("centers")) d.centers = to_vector(*n, "init.centers");
      if (const auto* n = t->get("kappas")) d.kappas = to_vector(*n, "init.kappas");
      if (const auto* n = t->get("weights")) d.weights = to_vector(*n, "init.weights");
    } else {
      throw InputError("init.kind",
                       "unknown kind '" + kind + "'; allowed: perturbed_uniform, von_mises");
    }
  }
  reduce::validate_circle_density(d);

  if (const toml::table* t = section_table(root, "grid")) {
    check_keys(*t, "grid", {"cells", "cfl"});
    if (const auto* n = t->get("cells")) {
      const std::int64_t v = to_integer(*n, "grid.cells");
      if (v < 1 || v > (std::int64_t{1} << 24))
        throw InputError("grid.cells", "must lie in [1, 2^24], got " + std::to_string(v));
      cfg.cells = v;
    }
    if (const auto* n = t->get("cfl")) {
      cfg.cfl = finite_number(*n, "grid.cfl");
      if (cfg.cfl <= 0.0 || cfg.cfl > 0.5)
        throw InputError("grid.cfl",
                         "must lie in (0, 0.5] (positivity needs dt max|u| <= dx/2), got " +
                             number_text(cfg.cfl));
    }
  }
  reduce::validate_circle_cells(cfg.beta, cfg.cells);

  CircleParticleConfig& p = cfg.particles;
  if (const toml::table* t = section_table(root, "particles")) {
    check_keys(*t, "particles", {"n", "seed", "sampling", "method", "dt", "trajectory"});
    if (const auto* n = t->get("n")) {
      std::vector<std::int64_t> counts;
      if (const auto* a = n->as_array()) {
        for (std::size_t i = 0; i < a->size(); ++i)
          counts.push_back(to_integer(*a->get(i), "particles.n[" + std::to_string(i) + "]"));
      } else {
        counts.push_back(to_integer(*n, "particles.n"));
      }
      for (std::int64_t c : counts) {
        if (c < 1 || c > 1'000'000)
          throw InputError("particles.n",
                           "particle numbers must lie in [1, 1000000], got " + std::to_string(c));
        p.counts.push_back(c);
      }
    }
    if (const auto* n = t->get("seed")) {
      const std::int64_t v = to_integer(*n, "particles.seed");
      if (v < 0) throw InputError("particles.seed", "must be >= 0, got " + std::to_string(v));
      p.seed = static_cast<std::uint64_t>(v);
    }
    if (const auto* n = t->get("sampling")) {
      const std::string s = to_string(*n, "particles.sampling");
      if (s != "random" && s != "quantile")
        throw InputError("particles.sampling",
                         "unknown sampling '" + s + "'; allowed: random, quantile");
      p.quantile = s == "quantile";
    }
    if (const auto* n = t->get("method"))
      p.method = method_from_name(to_string(*n, "particles.method"), "particles.method");
    if (const auto* n = t->get("dt")) p.dt = positive_number(*n, "particles.dt");
    if (const auto* n = t->get("trajectory")) p.trajectory = to_bool(*n, "particles.trajectory");
  }

  if (const toml::table* t = section_table(root, "integrate")) {
    check_keys(*t, "integrate", {"t_end", "max_steps"});
    if (const auto* n = t->get("t_end")) {
      cfg.t_end = finite_number(*n, "integrate.t_end");
      if (cfg.t_end < 0.0)
        throw InputError("integrate.t_end",
                         "must be finite and >= 0, got " + number_text(cfg.t_end));
    }
    if (const auto* n = t->get("max_steps")) {
      const std::int64_t v = to_integer(*n, "integrate.max_steps");
      if (v < 1)
        throw InputError("integrate.max_steps", "must be at least 1, got " + std::to_string(v));
      cfg.max_steps = static_cast<std::uint64_t>(v);
    }
  }
  const toml::table* output = section_table(root, "output");
  if (output != nullptr) check_keys(*output, "output", {"every", "times"});
  double every = 0.0;
  resolve_output_times(output, cfg.t_end, cfg.times, cfg.record, every);

  toml::table resolved = root;
  auto ensure = [&resolved](const char* section) -> toml::table& {
    if (!resolved.contains(section)) resolved.insert(section, toml::table{});
    return *resolved.get(section)->as_table();
  };
  write_circle_model(ensure("model"), cfg.kernel, cfg.beta);
  ensure("init").insert_or_assign("kind", kind);
  toml::table& rg = ensure("grid");
  rg.insert_or_assign("cells", static_cast<std::int64_t>(cfg.cells));
  rg.insert_or_assign("cfl", cfg.cfl);
  toml::table& ri = ensure("integrate");
  ri.insert_or_assign("t_end", cfg.t_end);
  toml::table& ro = ensure("output");
  if (!ro.contains("times")) ro.insert_or_assign("every", every);
  cfg.resolved_toml = serialise(resolved);
  return cfg;
}

CircleConfig load_circle_config(const std::filesystem::path& path,
                                const std::vector<std::string>& overrides) {
  return parse_circle_config(read_file(path), overrides);
}

// ---------------------------------------------------------------------------------------------
// circle-particles

CircleParticlesConfig parse_circle_particles_config(const std::string& text,
                                                    const std::vector<std::string>& overrides) {
  toml::table root = parse_toml(text);
  for (const std::string& o : overrides) apply_override(root, o);
  for (const auto& [key, node] : root) {
    const std::string_view k = key.str();
    if (k != "model" && k != "init" && k != "integrate" && k != "output")
      throw InputError(std::string(k), "unknown section; allowed: model, init, integrate, output");
  }
  CircleParticlesConfig cfg;
  cfg.integrate.method = Method::dopri5;
  cfg.integrate.dt = 0.0;
  parse_circle_model(root, "circle-particles", cfg.kernel, cfg.beta);
  // USA always runs in t' = e^β t here (any β stays finite).
  reduce::validate_circle_particles(cfg.kernel, cfg.beta, true);

  const toml::table* init = section_table(root, "init");
  if (init == nullptr || !init->contains("angles"))
    throw InputError("init.angles", "is required: the initial angles of the tokens (rad)");
  check_keys(*init, "init", {"angles", "weights"});
  cfg.angles = to_vector(*init->get("angles"), "init.angles");
  if (cfg.angles.empty() || cfg.angles.size() > 100'000)
    throw InputError("init.angles", "must list between 1 and 100000 angles, got " +
                                        std::to_string(cfg.angles.size()));
  if (const auto* n = init->get("weights")) {
    cfg.weights = to_vector(*n, "init.weights");
    if (cfg.weights.size() != cfg.angles.size())
      throw InputError("init.weights", "must have one weight per angle (" +
                                           std::to_string(cfg.angles.size()) + "), got " +
                                           std::to_string(cfg.weights.size()));
    double total = 0.0;
    for (double w : cfg.weights) {
      if (!std::isfinite(w) || w < 0.0)
        throw InputError("init.weights", "must be finite and >= 0, got " + number_text(w));
      total += w;
    }
    if (!(total > 0.0)) throw InputError("init.weights", "must have a positive sum");
    for (double& w : cfg.weights) w /= total;
  } else {
    cfg.weights.assign(cfg.angles.size(), 1.0 / static_cast<double>(cfg.angles.size()));
  }

  std::string time = "flow";
  if (const toml::table* t = section_table(root, "integrate")) {
    check_keys(*t, "integrate",
               {"time", "method", "dt", "rtol", "atol", "t_end", "max_steps", "snap_distance"});
    if (const auto* n = t->get("time")) {
      time = to_string(*n, "integrate.time");
      if (time != "flow" && time != "arc_length")
        throw InputError("integrate.time",
                         "unknown time '" + time + "'; allowed: flow, arc_length");
    }
    if (const auto* n = t->get("method"))
      cfg.integrate.method =
          method_from_name(to_string(*n, "integrate.method"), "integrate.method");
    if (const auto* n = t->get("dt")) cfg.integrate.dt = positive_number(*n, "integrate.dt");
    if (const auto* n = t->get("rtol")) cfg.integrate.rtol = positive_number(*n, "integrate.rtol");
    if (const auto* n = t->get("atol")) cfg.integrate.atol = positive_number(*n, "integrate.atol");
    if (const auto* n = t->get("t_end")) {
      cfg.t_end = finite_number(*n, "integrate.t_end");
      if (cfg.t_end < 0.0)
        throw InputError("integrate.t_end",
                         "must be finite and >= 0, got " + number_text(cfg.t_end));
    }
    if (const auto* n = t->get("max_steps")) {
      const std::int64_t v = to_integer(*n, "integrate.max_steps");
      if (v < 1)
        throw InputError("integrate.max_steps", "must be at least 1, got " + std::to_string(v));
      cfg.integrate.max_steps = static_cast<std::uint64_t>(v);
    }
    if (const auto* n = t->get("snap_distance")) {
      cfg.snap_distance = finite_number(*n, "integrate.snap_distance");
      if (cfg.snap_distance < 0.0 || cfg.snap_distance > 0.1)
        throw InputError(
            "integrate.snap_distance",
            "must lie in [0, 0.1] rad (0: never snap), got " + number_text(cfg.snap_distance));
    }
  }
  cfg.arc_length = time == "arc_length";
  if (cfg.integrate.method != Method::dopri5 && cfg.integrate.dt == 0.0)
    throw InputError("integrate.dt", "is required with method = \"" +
                                         std::string(method_name(cfg.integrate.method)) + "\"");

  const toml::table* output = section_table(root, "output");
  if (output != nullptr) {
    check_keys(*output, "output", {"every", "times", "cluster_distance"});
    if (const auto* n = output->get("cluster_distance"))
      cfg.cluster_distance = positive_number(*n, "output.cluster_distance");
  }
  double every = 0.0;
  resolve_output_times(output, cfg.t_end, cfg.times, cfg.record, every);

  toml::table resolved = root;
  auto ensure = [&resolved](const char* section) -> toml::table& {
    if (!resolved.contains(section)) resolved.insert(section, toml::table{});
    return *resolved.get(section)->as_table();
  };
  write_circle_model(ensure("model"), cfg.kernel, cfg.beta);
  toml::table& ri = ensure("integrate");
  ri.insert_or_assign("time", time);
  ri.insert_or_assign("method", std::string(method_name(cfg.integrate.method)));
  ri.insert_or_assign("t_end", cfg.t_end);
  ri.insert_or_assign("snap_distance", cfg.snap_distance);
  if (cfg.integrate.method == Method::dopri5) {
    ri.insert_or_assign("rtol", cfg.integrate.rtol);
    ri.insert_or_assign("atol", cfg.integrate.atol);
  }
  toml::table& ro = ensure("output");
  if (!ro.contains("times")) ro.insert_or_assign("every", every);
  ro.insert_or_assign("cluster_distance", cfg.cluster_distance);
  cfg.resolved_toml = serialise(resolved);
  return cfg;
}

CircleParticlesConfig load_circle_particles_config(const std::filesystem::path& path,
                                                   const std::vector<std::string>& overrides) {
  return parse_circle_particles_config(read_file(path), overrides);
}

// ---------------------------------------------------------------------------------------------
// long context

LongContextConfig parse_long_context_config(const std::string& text) {
  const toml::table root = parse_toml(text);
  for (const auto& [key, node] : root)
    if (key.str() != "long_context")
      throw InputError(std::string(key.str()), "unknown section; allowed: long_context");
  LongContextConfig cfg;
  const toml::table* t = section_table(root, "long_context");
  if (t == nullptr) throw InputError("long_context", "the sweep file needs a [long_context] table");
  check_keys(*t, "long_context",
             {"rho", "n", "gamma", "gamma_over_critical", "residual", "particle_max_n"});
  if (const auto* n = t->get("rho")) cfg.rho = finite_number(*n, "long_context.rho");
  if (const auto* n = t->get("n")) cfg.n = to_vector(*n, "long_context.n");
  if (const auto* n = t->get("gamma")) cfg.gamma = to_vector(*n, "long_context.gamma");
  if (const auto* n = t->get("gamma_over_critical"))
    cfg.gamma_over_critical = to_vector(*n, "long_context.gamma_over_critical");
  if (const auto* n = t->get("residual")) cfg.residual = to_bool(*n, "long_context.residual");
  if (const auto* n = t->get("particle_max_n")) {
    const std::int64_t v = to_integer(*n, "long_context.particle_max_n");
    if (v < 0 || v > 4096)
      throw InputError(
          "long_context.particle_max_n",
          "must lie in [0, 4096] (the particle check costs n^3), got " + std::to_string(v));
    cfg.particle_max_n = v;
  }
  return cfg;
}

LongContextConfig load_long_context_config(const std::filesystem::path& path) {
  return parse_long_context_config(read_file(path));
}

}  // namespace attnflow::io
