// `attnflow w2 A.h5 B.h5`: Wasserstein distances between two runs, frame by frame (SPEC §4).
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "attnflow/analysis/wasserstein.hpp"
#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/run_reader.hpp"
#include "commands.hpp"

namespace attnflow::cli {

Action add_w2_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("w2",
                                     "W2 between two runs frame by frame: exact | sinkhorn | "
                                     "sliced | gaussian | conditional (JSON)");
  struct Options {
    std::string a, b, method = "exact", output;
    double epsilon = 1e-2;
    double tol = 1e-5;
    int max_iters = 20000;
    int projections = 200;
    std::uint64_t seed = 0;
    int threads = 0;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("A", opt->a, "first run file (run.h5)")->required();
  cmd->add_option("B", opt->b, "second run file (run.h5)")->required();
  cmd->add_option(
      "--method", opt->method,
      "exact (network simplex, N*M <= 2^22) | sinkhorn (divergence, --epsilon) | sliced "
      "(--projections, --seed) | gaussian (Bures between fitted Gaussians) | conditional "
      "(per sequence position, causal runs)");
  cmd->add_option("--epsilon", opt->epsilon,
                  "sinkhorn: entropic regularisation (squared-distance units)");
  cmd->add_option("--tol", opt->tol,
                  "sinkhorn: stop at this marginal error (reported as marginal_error)");
  cmd->add_option("--max-iters", opt->max_iters, "sinkhorn: iterations per annealing stage");
  cmd->add_option("--projections", opt->projections, "sliced: number of random directions");
  cmd->add_option("--seed", opt->seed, "sliced: seed of the directions");
  cmd->add_option("-o,--output", opt->output, "write the JSON here (atomically) instead of stdout");
  cmd->add_option("--threads", opt->threads,
                  "OpenMP threads (0: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  return [opt]() {
    set_threads(opt->threads);
    analysis::W2Options w2;
    w2.method = analysis::w2_method_from_name(opt->method, "--method");
    w2.sinkhorn.epsilon = opt->epsilon;
    w2.sinkhorn.tol = opt->tol;
    w2.sinkhorn.max_iters = opt->max_iters;
    if (!(opt->tol > 0.0) || !std::isfinite(opt->tol))
      throw InputError("--tol", "must be finite and > 0, got " + format_number(opt->tol));
    if (opt->max_iters < 1)
      throw InputError("--max-iters", "must be at least 1, got " + std::to_string(opt->max_iters));
    if (!(opt->epsilon > 0.0) || !std::isfinite(opt->epsilon))
      throw InputError("--epsilon", "must be finite and > 0, got " + format_number(opt->epsilon));
    if (opt->projections < 1)
      throw InputError("--projections",
                       "must be at least 1, got " + std::to_string(opt->projections));
    w2.projections = opt->projections;
    w2.seed = opt->seed;
    const io::RunReader a(opt->a), b(opt->b);
    for (const io::RunReader* r : {&a, &b})
      if (!r->has_trajectory())
        throw InputError(r->key(), "has no dataset /x (written with output.trajectory = false?)");
    if (a.d() != b.d())
      throw InputError("w2", "the runs have different dimensions: " + a.key() +
                                 " has d = " + std::to_string(a.d()) + ", " + b.key() +
                                 " has d = " + std::to_string(b.d()));
    if (a.frames() != b.frames())
      throw InputError("w2", "the runs have different numbers of frames: " + a.key() + " has " +
                                 std::to_string(a.frames()) + ", " + b.key() + " has " +
                                 std::to_string(b.frames()));
    for (std::size_t k = 0; k < a.frames(); ++k) {
      const double ta = a.times()[k], tb = b.times()[k];
      if (std::fabs(ta - tb) > 1e-9 * std::max(1.0, std::fabs(ta)))
        throw InputError("w2", "the runs have different output times: frame " + std::to_string(k) +
                                   " is t = " + format_number(ta) + " in " + a.key() +
                                   " and t = " + format_number(tb) + " in " + b.key());
    }
    nlohmann::json out;
    out["a"] = a.key();
    out["b"] = b.key();
    out["method"] = analysis::w2_method_name(w2.method);
    if (w2.method == analysis::W2Method::sinkhorn) {
      out["epsilon"] = w2.sinkhorn.epsilon;
      out["tol"] = w2.sinkhorn.tol;
    }
    if (w2.method == analysis::W2Method::sliced) {
      out["projections"] = w2.projections;
      out["seed"] = w2.seed;
    }
    out["t"] = a.times();
    std::vector<double> distances;
    for (std::size_t k = 0; k < a.frames(); ++k) {
      const Matrix x = a.frame(k), y = b.frame(k);
      distances.push_back(
          analysis::w2_distance(x, a.weights(), a.positions(), y, b.weights(), b.positions(), w2));
    }
    out["w2"] = distances;
    if (opt->output.empty()) {
      std::cout << out.dump(2) << "\n";
    } else {
      io::write_json_atomic(opt->output, out);
      std::cout << "wrote " << opt->output << "\n";
    }
    return 0;
  };
}

}  // namespace attnflow::cli
