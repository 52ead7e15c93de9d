// `attnflow stability CONFIG.toml -o OUTDIR`: [M]'s stability experiment — perturb the input tokens
// or the weights by ε and record W2 between the perturbed and unperturbed flows over time.
#include <cmath>
#include <iostream>

#include "attnflow/analysis/stability.hpp"
#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/config.hpp"
#include "attnflow/io/run.hpp"
#include "attnflow/io/run_writer.hpp"
#include "commands.hpp"

namespace attnflow::cli {

Action add_stability_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "stability",
      "[M] stability: W2 between the flow and its eps-perturbed copies (tokens or weights)");
  struct Options {
    std::string config, outdir, perturb = "tokens", method = "exact";
    std::vector<std::string> overrides;
    std::vector<double> eps{1e-4, 1e-3, 1e-2};
    std::uint64_t seed = 1;
    double epsilon = 1e-3;
    int projections = 200;
    int threads = 0;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("config", opt->config, "TOML run configuration")->required();
  cmd->add_option("-o,--output", opt->outdir, "output directory")->required();
  cmd->add_option("--set", opt->overrides, "override a key: section.key=value (repeatable)");
  cmd->add_option("--perturb", opt->perturb,
                  "tokens (x_i + eps xi_i) | weights (Q, K, V, W + eps Xi)");
  cmd->add_option("--eps", opt->eps, "perturbation sizes (repeatable; default 1e-4 1e-3 1e-2)");
  cmd->add_option("--seed", opt->seed, "seed of the perturbation");
  cmd->add_option("--method", opt->method,
                  "W2 method: exact | sinkhorn | sliced | gaussian | conditional");
  cmd->add_option("--epsilon", opt->epsilon, "sinkhorn regularisation");
  cmd->add_option("--projections", opt->projections, "sliced: number of directions");
  cmd->add_option("--threads", opt->threads,
                  "OpenMP threads (0: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", opt->quiet, "no report");
  return [opt]() {
    set_threads(opt->threads);
    if (opt->perturb != "tokens" && opt->perturb != "weights")
      throw InputError("--perturb",
                       "unknown target '" + opt->perturb + "'; allowed: tokens, weights");
    for (double e : opt->eps)
      if (!(e > 0.0) || !std::isfinite(e))
        throw InputError("--eps", "must be finite and > 0, got " + format_number(e));
    analysis::W2Options w2;
    w2.method = analysis::w2_method_from_name(opt->method, "--method");
    w2.sinkhorn.epsilon = opt->epsilon;
    w2.projections = opt->projections;
    const io::RunConfig config = io::load_config(opt->config, opt->overrides);
    const Measure mu = io::initial_measure(config.init, config.model.geometry);
    validate_model(config.model, mu.d());
    std::vector<double> recorded;
    for (std::size_t k = 0; k < config.output.times.size(); ++k)
      if (config.output.record[k]) recorded.push_back(config.output.times[k]);
    const bool sphere = config.model.geometry == Geometry::sphere;
    std::vector<std::vector<double>> w2_rows;
    for (double e : opt->eps) {
      const Measure nu =
          opt->perturb == "tokens" ? analysis::perturb_tokens(mu, e, opt->seed, sphere) : mu;
      const Model model_b = opt->perturb == "weights"
                                ? analysis::perturb_weights(config.model, e, opt->seed)
                                : config.model;
      const std::vector<double> all = analysis::w2_between_flows(
          config.model, mu, model_b, nu, config.output.times, config.integrate, w2);
      std::vector<double> row;
      for (std::size_t k = 0; k < all.size(); ++k)
        if (config.output.record[k]) row.push_back(all[k]);
      w2_rows.push_back(row);
    }
    const std::filesystem::path out(opt->outdir);
    io::ensure_output_directory(out);
    const std::size_t frames = recorded.size();
    std::vector<double> flat, ratio;
    for (std::size_t i = 0; i < opt->eps.size(); ++i)
      for (double v : w2_rows[i]) {
        flat.push_back(v);
        ratio.push_back(v / opt->eps[i]);
      }
    io::RunWriter writer(out / "stability.h5", io::RunLayout{1, 1, false, {}, {}});
    writer.set_attribute("kind", std::string("stability"));
    writer.set_attribute("version", std::string(ATTNFLOW_VERSION));
    writer.set_attribute("config", config.resolved_toml);
    writer.set_attribute("perturb", opt->perturb);
    writer.set_attribute("method", std::string(analysis::w2_method_name(w2.method)));
    writer.set_attribute("seed", static_cast<std::int64_t>(opt->seed));
    for (double t : recorded) writer.append(t, nullptr, {}, {});
    writer.write_dataset("eps", {opt->eps.size()}, opt->eps.data());
    writer.write_dataset("w2", {opt->eps.size(), frames}, flat.data());
    writer.write_dataset("ratio", {opt->eps.size(), frames}, ratio.data());
    nlohmann::json summary;
    summary["kind"] = "stability";
    summary["attnflow_version"] = ATTNFLOW_VERSION;
    summary["perturb"] = opt->perturb;
    summary["method"] = analysis::w2_method_name(w2.method);
    summary["eps"] = opt->eps;
    summary["t"] = recorded;
    summary["w2"] = w2_rows;
    nlohmann::json max_ratio = nlohmann::json::array();
    for (std::size_t i = 0; i < opt->eps.size(); ++i) {
      double m = 0.0;
      for (double v : w2_rows[i]) m = std::max(m, v / opt->eps[i]);
      max_ratio.push_back(m);
    }
    summary["max_ratio"] = max_ratio;
    summary["files"] = {{"stability", "stability.h5"}, {"summary", "summary.json"}};
    writer.commit();
    io::write_json_atomic(out / "summary.json", summary);
    if (!opt->quiet) {
      std::cout << "wrote " << (out / "stability.h5").string() << " and "
                << (out / "summary.json").string() << "\n";
      for (std::size_t i = 0; i < opt->eps.size(); ++i)
        std::cout << "eps = " << opt->eps[i] << ": W2(t_end) = " << w2_rows[i].back()
                  << ", max_t W2/eps = " << max_ratio[i].get<double>() << "\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
