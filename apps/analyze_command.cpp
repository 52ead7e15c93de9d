// `attnflow analyze RUN.h5`: the papers' analyses of a run file as JSON (docs/analysis.md):
// clusters ([R] §4), metastability ([R] §5), spectra (SPEC §4), stationarity ([B] §4).
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "attnflow/analysis/cluster_report.hpp"
#include "attnflow/analysis/metastability.hpp"
#include "attnflow/analysis/spectra.hpp"
#include "attnflow/analysis/stationary.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/energy.hpp"
#include "attnflow/error.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/run_reader.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

nlohmann::json plateaus_json(const std::vector<analysis::Plateau>& plateaus) {
  nlohmann::json out = nlohmann::json::array();
  for (const analysis::Plateau& p : plateaus)
    out.push_back({{"t_start", p.t_start},
                   {"t_end", p.t_end},
                   {"value", p.value},
                   {"min", p.min},
                   {"max", p.max},
                   {"first_frame", p.first},
                   {"last_frame", p.last}});
  return out;
}

nlohmann::json spectrum_json(const analysis::SpectrumSummary& s) {
  return {{"eigenvalues", s.eigenvalues}, {"trace", s.trace},
          {"anisotropy", s.anisotropy},   {"effective_rank", s.effective_rank},
          {"stable_rank", s.stable_rank}, {"numerical_rank", s.numerical_rank}};
}

nlohmann::json matrix_json(const Matrix& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (Index i = 0; i < m.rows(); ++i) {
    std::vector<double> row(m.cols());
    for (Index j = 0; j < m.cols(); ++j) row[static_cast<std::size_t>(j)] = m(i, j);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

Action add_analyze_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "analyze", "Clusters, metastability, spectra and [B] stationarity of a run file (JSON)");
  struct Options {
    std::string run, output, method = "exact";
    bool clusters = false, metastability = false, spectra = false, stationary = false, all = false;
    double threshold = std::numeric_limits<double>::quiet_NaN();
    long frame = -1;
    double energy_tol = 1e-2;
    double min_duration = std::numeric_limits<double>::quiet_NaN();
    double rank_tol = 1e-6;
    double attention_rank_tol = 1e-3;
    long max_attention_tokens = 2048;
    int threads = 0;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("run", opt->run, "run file (run.h5)")->required();
  cmd->add_flag("--clusters", opt->clusters,
                "clusters at every frame and sizes/masses/centres at --frame");
  cmd->add_flag("--metastability", opt->metastability,
                "plateaus of cluster count and normalised energy, merges, staircase time changes");
  cmd->add_flag("--spectra", opt->spectra,
                "Gram/covariance spectra and attention rank/leaders at --frame");
  cmd->add_flag("--stationary", opt->stationary,
                "[B] stationarity residual and candidate extremisers at --frame");
  cmd->add_flag("--all", opt->all, "every analysis (default: clusters, metastability, spectra)");
  cmd->add_option("--threshold", opt->threshold,
                  "cluster threshold delta in (0, 2) (default: the run's)");
  cmd->add_option("--method", opt->method,
                  "cluster search: exact (any d) | spatial (d <= 3, same answer)");
  cmd->add_option("--frame", opt->frame,
                  "frame for spectra/stationary/cluster details (default: last; -1 = last)");
  cmd->add_option("--energy-tol", opt->energy_tol,
                  "plateau band of the normalised energy (absolute, in [0, 1])");
  cmd->add_option("--min-duration", opt->min_duration,
                  "shortest plateau (default: 5% of the time span)");
  cmd->add_option("--rank-tol", opt->rank_tol,
                  "numerical rank of Gram/covariance: eigenvalues > tol * largest");
  cmd->add_option("--attention-rank-tol", opt->attention_rank_tol,
                  "attention rank: singular values > tol * largest");
  cmd->add_option("--max-attention-tokens", opt->max_attention_tokens,
                  "skip the (N x N) attention matrix above this many tokens");
  cmd->add_option("-o,--output", opt->output, "write the JSON here (atomically) instead of stdout");
  cmd->add_option("--threads", opt->threads,
                  "OpenMP threads (0: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  return [opt]() {
    set_threads(opt->threads);
    const analysis::ClusterMethod method =
        analysis::cluster_method_from_name(opt->method, "--method");
    if (!std::isnan(opt->threshold))
      analysis::validate_cluster_threshold(opt->threshold, "--threshold");
    if (!(opt->energy_tol >= 0.0) || !std::isfinite(opt->energy_tol))
      throw InputError("--energy-tol",
                       "must be finite and >= 0, got " + format_number(opt->energy_tol));
    if (!std::isnan(opt->min_duration) &&
        !(opt->min_duration >= 0.0 && std::isfinite(opt->min_duration)))
      throw InputError("--min-duration",
                       "must be finite and >= 0, got " + format_number(opt->min_duration));
    bool any = opt->clusters || opt->metastability || opt->spectra || opt->stationary;
    if (opt->all) opt->clusters = opt->metastability = opt->spectra = opt->stationary = true;
    if (!any && !opt->all) opt->clusters = opt->metastability = opt->spectra = true;

    const io::RunReader run(opt->run);
    if (!run.has_trajectory())
      throw InputError(run.key(), "has no dataset /x (written with output.trajectory = false?)");
    const io::RunConfig config = run.config();
    const double delta =
        std::isnan(opt->threshold) ? config.output.cluster_threshold : opt->threshold;
    const std::size_t frames = run.frames();
    if (frames == 0) throw InputError(run.key(), "has no frames");
    if (opt->frame < -1 || opt->frame >= static_cast<long>(frames))
      throw InputError("--frame", "must be -1 (last) or in [0, " + std::to_string(frames - 1) +
                                      "], got " + std::to_string(opt->frame));
    const std::size_t frame = opt->frame < 0 ? frames - 1 : static_cast<std::size_t>(opt->frame);
    const std::vector<double>& t = run.times();
    const double span = t.back() - t.front();
    const double min_duration = std::isnan(opt->min_duration) ? 0.05 * span : opt->min_duration;

    nlohmann::json out;
    out["file"] = run.key();
    out["version"] = run.version();
    out["frames"] = frames;
    out["n"] = run.n();
    out["d"] = run.d();
    out["beta"] = config.model.beta;
    out["t"] = t;
    out["frame"] = frame;
    out["t_frame"] = t[frame];

    // One pass over the frames for everything per-frame.
    std::vector<double> counts_d, fractions, energies, speeds, closest;
    std::vector<std::int64_t> counts;
    std::vector<Matrix> xs;
    std::optional<analysis::ClusterReport> detail;
    Dynamics dynamics(AttentionField(config.model, run.weights(), run.positions()));
    if (opt->clusters || opt->metastability) {
      for (std::size_t k = 0; k < frames; ++k) {
        const Measure m = run.measure(k);
        const analysis::ClusterReport r = analysis::cluster_report(m.x, m.weights, delta, method);
        counts.push_back(r.summary.count);
        counts_d.push_back(static_cast<double>(r.summary.count));
        fractions.push_back(r.summary.pair_fraction);
        if (k == frame) detail = r;
        if (opt->metastability) {
          energies.push_back(normalized_energy(config.model.beta, m));
          Matrix v;
          dynamics.velocity(t[k], m.x, v);
          speeds.push_back(analysis::l2_speed(v, m.weights));
          closest.push_back(analysis::closest_cluster_cosine(m.x, r.summary.labels));
          xs.push_back(m.x);
        }
      }
    }
    if (opt->clusters) {
      nlohmann::json c;
      c["threshold"] = delta;
      c["method"] = analysis::cluster_method_name(method);
      c["count"] = counts;
      c["pair_fraction"] = fractions;
      c["at_frame"] = {{"sizes", detail->sizes},
                       {"masses", detail->masses},
                       {"centres", matrix_json(detail->centres)},
                       {"labels", detail->summary.labels}};
      out["clusters"] = c;
    }
    if (opt->metastability) {
      nlohmann::json m;
      m["threshold"] = delta;
      m["min_duration"] = min_duration;
      m["energy_tol"] = opt->energy_tol;
      m["normalized_energy"] = energies;
      m["cluster_plateaus"] =
          plateaus_json(analysis::find_plateaus(t, counts_d, {0.0, min_duration}));
      m["energy_plateaus"] =
          plateaus_json(analysis::find_plateaus(t, energies, {opt->energy_tol, min_duration}));
      nlohmann::json merges = nlohmann::json::array();
      for (const analysis::MergeEvent& e : analysis::merge_events(t, counts))
        merges.push_back({{"frame", e.frame},
                          {"t_before", e.t_before},
                          {"t_after", e.t_after},
                          {"clusters_before", e.clusters_before},
                          {"clusters_after", e.clusters_after}});
      m["merges"] = merges;
      const std::vector<double> s = analysis::arc_length_time(t, speeds);
      m["speed"] = speeds;
      m["arc_length_time"] = s;
      m["chord_length_time"] = analysis::chord_length_time(xs, run.weights());
      m["closest_cluster_cosine"] = closest;
      m["closest_pair_time"] = analysis::closest_pair_time(t, closest, config.model.beta);
      const double s_span = s.back() - s.front();
      m["staircase_plateaus"] =
          plateaus_json(analysis::find_plateaus(s, energies, {opt->energy_tol, 0.05 * s_span}));
      out["metastability"] = m;
    }
    if (opt->spectra) {
      const Measure m = run.measure(frame);
      const analysis::GramSpectra g = analysis::gram_spectra(m, opt->rank_tol);
      nlohmann::json s;
      s["rank_tol"] = opt->rank_tol;
      s["second_moment"] = spectrum_json(g.second_moment);
      s["covariance"] = spectrum_json(g.covariance);
      if (run.n() <= opt->max_attention_tokens && config.model.kernel != KernelKind::sinkhorn) {
        nlohmann::json heads = nlohmann::json::array();
        for (std::size_t h = 0; h < config.model.heads.size(); ++h) {
          const analysis::AttentionSpectrum a = analysis::attention_spectrum(
              analysis::attention_matrix(config.model, m, h), opt->attention_rank_tol);
          heads.push_back({{"singular_values", a.singular_values},
                           {"numerical_rank", a.numerical_rank},
                           {"column_mass", a.column_mass},
                           {"leaders", a.leaders}});
        }
        s["attention"] = {{"rank_tol", opt->attention_rank_tol}, {"heads", heads}};
      } else {
        s["attention"] = nullptr;
      }
      out["spectra"] = s;
    }
    if (opt->stationary) {
      const Matrix D = analysis::interaction_matrix(config.model, "--stationary");
      const Measure m = run.measure(frame);
      const analysis::StationarityResidual r = analysis::stationarity_residual(D, m);
      nlohmann::json st;
      st["D"] = matrix_json(D);
      st["residual"] = r.residual;
      st["normalized_residual"] = r.normalized_residual;
      st["worst_token"] = r.worst_token;
      st["energy"] = analysis::energy_b(D, m);
      nlohmann::json candidates = nlohmann::json::array();
      double best = std::numeric_limits<double>::infinity();
      std::size_t best_index = 0;
      const std::vector<analysis::Candidate> cs = analysis::stationary_candidates(D, m);
      for (std::size_t k = 0; k < cs.size(); ++k) {
        const analysis::Candidate& c = cs[k];
        nlohmann::json j = {{"kind", c.kind}, {"energy", c.energy}, {"w2", c.w2}};
        if (c.eigen_index >= 0) {
          j["eigen_index"] = c.eigen_index;
          j["eigenvalue"] = c.eigenvalue;
          j["direction"] =
              std::vector<double>(c.direction.data(), c.direction.data() + c.direction.size());
        }
        candidates.push_back(j);
        if (c.w2 < best) {
          best = c.w2;
          best_index = k;
        }
      }
      st["candidates"] = candidates;
      st["closest_candidate"] = best_index;
      out["stationary"] = st;
    }
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
