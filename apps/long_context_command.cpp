// `attnflow long-context`: the long-context phase transition of [R] (β = γ log n, one attention
// layer on equiangular inputs; docs/reduced_models.md §3) as a sweep over (n, γ), cross-checked
// against the attention engine on the actual tokens for small n.
#include <cmath>
#include <iostream>
#include <sstream>

#include "attnflow/attention_field.hpp"
#include "attnflow/error.hpp"
#include "attnflow/init.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/reduce_config.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/reduce/equiangular.hpp"
#include "attnflow/reduce/long_context.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

/// The layer evaluated on the n tokens by the engine (softmax, Q = K = V = I, R^d, d = n):
/// mean and spread of the output similarities.
reduce::PairStatistics particle_layer(Index n, double gamma, double rho, bool residual) {
  const Matrix x = equiangular_points(n, n, rho);
  const Measure m = uniform_measure(x);
  AttentionField field(identity_model(n, gamma * std::log(static_cast<double>(n)),
                                      KernelKind::softmax, Geometry::euclidean),
                       m.weights, m.positions);
  Matrix out;
  field.evaluate(x, out);
  if (residual) out += x;
  return reduce::pair_statistics(out);
}

std::vector<double> split_numbers(const std::string& text, const std::string& key) {
  std::vector<double> v;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      std::size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InputError(key, "expected a comma-separated list of numbers, got '" + text + "'");
    }
  }
  return v;
}

}  // namespace

Action add_long_context_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "long-context",
      "Long-context phase transition of [R]: one layer, beta = gamma log n, equiangular "
      "inputs; CSV over (n, gamma)");
  struct Options {
    double rho = 0.5;
    std::string n = "10,100,1000,1e4,1e5,1e6,1e8,1e10,1e12,1e15";
    std::string gamma;
    std::string gamma_over_critical;
    bool residual = false;
    std::int64_t particle_max_n = 256;
    std::string config;
    std::string output;
  };
  auto opt = std::make_shared<Options>();
  auto* rho = cmd->add_option("--rho", opt->rho, "input similarity rho")->capture_default_str();
  auto* n =
      cmd->add_option("--n", opt->n, "comma-separated sequence lengths")->capture_default_str();
  auto* g = cmd->add_option("--gamma", opt->gamma, "comma-separated gamma values");
  auto* gc =
      cmd->add_option("--gamma-over-critical", opt->gamma_over_critical,
                      "comma-separated gamma / gamma_c values (default 0.5,1,1.5 if no --gamma)");
  auto* res =
      cmd->add_flag("--residual", opt->residual, "layer output x_i + ATT(x_i) instead of ATT(x_i)");
  auto* pm =
      cmd->add_option(
             "--particles-max-n", opt->particle_max_n,
             "evaluate the layer on the tokens with the engine for integer n <= this (0: never)")
          ->capture_default_str();
  cmd->add_option("--config", opt->config,
                  "TOML sweep file with a [long_context] table (instead of the flags)")
      ->excludes(rho)
      ->excludes(n)
      ->excludes(g)
      ->excludes(gc)
      ->excludes(res)
      ->excludes(pm);
  cmd->add_option("-o,--output", opt->output,
                  "write the CSV to this file (atomically) instead of stdout");
  return [opt]() {
    io::LongContextConfig cfg;
    if (!opt->config.empty()) {
      cfg = io::load_long_context_config(opt->config);
    } else {
      cfg.rho = opt->rho;
      cfg.n = split_numbers(opt->n, "--n");
      if (!opt->gamma.empty()) cfg.gamma = split_numbers(opt->gamma, "--gamma");
      if (!opt->gamma_over_critical.empty())
        cfg.gamma_over_critical = split_numbers(opt->gamma_over_critical, "--gamma-over-critical");
      cfg.residual = opt->residual;
      if (opt->particle_max_n < 0 || opt->particle_max_n > 4096)
        throw InputError("--particles-max-n",
                         "must lie in [0, 4096] (the particle check costs n^3), got " +
                             std::to_string(opt->particle_max_n));
      cfg.particle_max_n = opt->particle_max_n;
    }
    if (cfg.n.empty()) throw InputError("--n", "give at least one sequence length");
    if (cfg.gamma.empty() && cfg.gamma_over_critical.empty())
      cfg.gamma_over_critical = {0.5, 1.0, 1.5};
    const double gamma_c = reduce::long_context_critical_gamma(cfg.rho);
    std::vector<double> gammas = cfg.gamma;
    for (double f : cfg.gamma_over_critical) gammas.push_back(f * gamma_c);
    for (double nn : cfg.n)
      for (double gamma : gammas) reduce::validate_long_context(nn, gamma, cfg.rho);

    std::ostringstream out;
    out << "# long-context layer ([R]): rho=" << format_number(cfg.rho)
        << " gamma_c=1/(1-rho)=" << format_number(gamma_c)
        << " residual=" << (cfg.residual ? "true" : "false") << "\n";
    out << "n,gamma,gamma_over_critical,beta,similarity,limit,regime,particle_similarity,particle_"
           "spread\n";
    for (double gamma : gammas) {
      for (double nn : cfg.n) {
        const double sim = reduce::long_context_similarity(nn, gamma, cfg.rho, cfg.residual);
        out << format_number(nn) << "," << format_number(gamma) << ","
            << format_number(gamma / gamma_c) << "," << format_number(gamma * std::log(nn)) << ","
            << format_number(sim) << ",";
        out << (cfg.residual ? std::string("")
                             : format_number(reduce::long_context_limit(gamma, cfg.rho)));
        out << "," << reduce::long_context_regime(gamma, cfg.rho) << ",";
        if (nn == std::floor(nn) && nn <= static_cast<double>(cfg.particle_max_n)) {
          const reduce::PairStatistics s =
              particle_layer(static_cast<Index>(nn), gamma, cfg.rho, cfg.residual);
          out << format_number(s.mean_cosine) << "," << format_number(s.spread);
        } else {
          out << ",";
        }
        out << "\n";
      }
    }
    if (opt->output.empty()) {
      std::cout << out.str();
    } else {
      io::write_text_atomic(opt->output, out.str());
    }
    return 0;
  };
}

}  // namespace attnflow::cli
