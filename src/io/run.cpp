#include "attnflow/io/run.hpp"

#include <cmath>

#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/init.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/run_writer.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/observables.hpp"
#include "attnflow/reduce/gaussian.hpp"

namespace attnflow::io {

Measure initial_measure(const InitConfig& init, Geometry geometry) {
  Matrix x;
  if (init.kind == "uniform_sphere") {
    x = sample_uniform_sphere(init.n, init.d, init.seed);
  } else if (init.kind == "gaussian") {
    x = sample_gaussian(init.n, init.mean, init.cov, init.seed);
  } else if (init.kind == "points" || init.kind == "file") {  // files are read by the parser
    x = init.points;
  } else if (init.kind == "equiangular") {
    x = equiangular_points(init.n, init.d, init.rho);
  } else {
    throw InputError("init.kind", "unknown kind '" + init.kind + "'");
  }
  Measure m = uniform_measure(std::move(x));
  if (!init.weights.empty()) m.weights = init.weights;
  if (!init.positions.empty()) m.positions = init.positions;
  validate_measure(m, geometry == Geometry::sphere, "init");
  return m;
}

namespace {

nlohmann::json named_values(const std::vector<std::string>& names,
                            const std::vector<double>& values) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t k = 0; k < names.size(); ++k) j[names[k]] = values[k];
  return j;
}

}  // namespace

nlohmann::json run_experiment(const RunConfig& config, const std::filesystem::path& outdir,
                              const Progress& progress) {
  Measure measure = initial_measure(config.init, config.model.geometry);
  validate_model(config.model, measure.d());
  // gaussian_* observables: the Gaussian solution of [C] from the law the tokens were sampled from.
  std::optional<GaussianReference> gaussian;
  for (const std::string& name : config.output.observables) {
    if (!is_gaussian_observable(name) || gaussian) continue;
    if (config.init.kind != "gaussian")
      throw InputError("output.observables",
                       "'" + name +
                           "' compares the tokens with the Gaussian solution "
                           "from init.mean and init.cov: it needs init.kind = \"gaussian\"");
    reduce::GaussianSolveOptions opt;
    opt.integrate.method = Method::dopri5;
    opt.integrate.dt = 0.0;
    opt.integrate.rtol = 1e-10;
    opt.integrate.atol = 1e-12;
    const reduce::GaussianSolution solution = reduce::solve_gaussian(
        config.model, config.init.mean, config.init.cov, config.output.times, opt);
    gaussian.emplace();
    for (const reduce::GaussianFrame& f : solution.frames) {
      gaussian->times.push_back(f.t);
      gaussian->means.push_back(f.mean);
      gaussian->covs.push_back(f.cov);
    }
  }

  ensure_output_directory(outdir);

  const std::vector<std::string>& names = config.output.observables;
  // Schemes with radii (x = r θ) save |x_i| with the trajectory as /radius (T×N).
  const Normalization scheme = effective_normalization(config.model);
  const bool save_radius = scheme != Normalization::none && scheme != Normalization::post_ln;
  std::vector<std::string> token_names;
  if (save_radius) token_names.emplace_back("radius");
  RunWriter writer(outdir / "run.h5", RunLayout{static_cast<std::size_t>(measure.n()),
                                                static_cast<std::size_t>(measure.d()),
                                                config.output.trajectory, names, token_names});
  writer.set_attribute("config", config.resolved_toml);
  writer.set_attribute("version", std::string(ATTNFLOW_VERSION));
  writer.set_attribute("seed", static_cast<std::int64_t>(config.init.seed));
  writer.set_attribute("geometry", std::string(geometry_name(config.model.geometry)));
  writer.set_attribute("kernel", std::string(kernel_info(config.model.kernel).name));
  writer.set_attribute("beta", config.model.beta);
  writer.write_dataset("weights", {measure.weights.size()}, measure.weights.data());
  writer.write_dataset("positions", {measure.positions.size()}, measure.positions.data());

  std::vector<double> radii(static_cast<std::size_t>(measure.n()));
  for (Index i = 0; i < measure.n(); ++i)
    radii[static_cast<std::size_t>(i)] = measure.x.row(i).norm();
  Dynamics dynamics(AttentionField(config.model, measure.weights, measure.positions), radii);
  std::vector<double> radius_frame(radii.size());
  ObservableSet observables(names, config.output.cluster_threshold);
  if (gaussian) observables.set_gaussian_reference(std::move(*gaussian));
  std::vector<double> first_values, last_values;
  double last_time = 0.0;
  std::optional<ClusterSummary> last_clusters;

  auto observe = [&](std::size_t k, double t, const Matrix& x) {
    if (!config.output.record[k]) return;
    std::vector<double> values = observables.evaluate(t, x, dynamics);
    std::vector<const double*> token_arrays;
    if (save_radius) {
      for (Index i = 0; i < x.rows(); ++i)
        radius_frame[static_cast<std::size_t>(i)] = x.row(i).norm();
      token_arrays.push_back(radius_frame.data());
    }
    writer.append(t, x.data(), values, token_arrays);
    if (writer.frames() == 1) first_values = values;
    last_values = std::move(values);
    last_time = t;
    if (observables.last_clusters()) last_clusters = observables.last_clusters();
    if (progress) progress(t, config.t_end);
  };

  nlohmann::json summary;
  summary["attnflow_version"] = ATTNFLOW_VERSION;
  summary["n"] = measure.n();
  summary["d"] = measure.d();
  summary["geometry"] = geometry_name(config.model.geometry);
  summary["kernel"] = kernel_info(config.model.kernel).name;
  summary["normalization"] = normalization_name(effective_normalization(config.model));
  summary["beta"] = config.model.beta;
  summary["heads"] = config.model.heads.size();
  summary["method"] = method_name(config.integrate.method);
  summary["t_end"] = config.t_end;
  summary["files"] = {{"run", "run.h5"}, {"summary", "summary.json"}};

  auto finish = [&](const std::string& status) {
    summary["status"] = status;
    summary["frames"] = writer.frames();
    summary["last_time"] = last_time;
    summary["initial"] = named_values(names, first_values);
    summary["final"] = named_values(names, last_values);
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == "energy" && !first_values.empty() && first_values[k] > 0.0)
        summary["energy_gain"] = last_values[k] / first_values[k];
    if (last_clusters) {
      std::vector<std::int64_t> sizes(static_cast<std::size_t>(last_clusters->count), 0);
      for (std::int64_t label : last_clusters->labels) ++sizes[static_cast<std::size_t>(label)];
      std::sort(sizes.begin(), sizes.end(), std::greater<>());
      summary["final_cluster_sizes"] = sizes;
    }
    writer.commit();
    write_json_atomic(outdir / "summary.json", summary);
  };

  Matrix x = measure.x;
  try {
    const IntegrateStats stats =
        integrate(dynamics, x, config.output.times, config.integrate, observe,
                  observables.quadrature(dynamics, config.output.times.front(), x));
    summary["steps"] = stats.steps;
    summary["rejected_steps"] = stats.rejected;
    summary["velocity_evaluations"] = stats.evaluations;
  } catch (const NumericalError& e) {
    finish(std::string("failed: ") + e.what());
    throw;
  }
  finish("ok");
  return summary;
}

}  // namespace attnflow::io
