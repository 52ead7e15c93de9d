#include "attnflow/io/sweep.hpp"

#include "attnflow/io/toml_helpers.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <exception>
#include <fstream>
#include <limits>
#include <sstream>

#include "attnflow/analysis/cluster_report.hpp"
#include "attnflow/dynamics.hpp"
#include "attnflow/error.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/io/atomic_file.hpp"
#include "attnflow/io/config.hpp"
#include "attnflow/io/run.hpp"
#include "attnflow/io/run_writer.hpp"
#include "attnflow/observables.hpp"

namespace attnflow::io {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using toml_util::type_name;  // the shared TOML helper (io/toml_helpers.hpp)

double number(const toml::node& n, const std::string& key) {
  double v = 0.0;
  if (const auto* f = n.as_floating_point())
    v = f->get();
  else if (const auto* i = n.as_integer())
    v = static_cast<double>(i->get());
  else
    throw InputError(key, "must be a number, got " + type_name(n));
  if (!std::isfinite(v)) throw InputError(key, "must be a finite number, got " + format_number(v));
  return v;
}

std::int64_t integer(const toml::node& n, const std::string& key) {
  if (const auto* i = n.as_integer()) return i->get();
  throw InputError(key, "must be an integer, got " + type_name(n));
}

/// TOML text of a string value (basic string with escapes).
std::string toml_string(const std::string& s) {
  std::ostringstream out;
  out << toml::value<std::string>(s);
  return out.str();
}

SweepAxis parse_axis(const toml::table& t, const std::string& key) {
  for (const auto& [k, node] : t) {
    const std::string name(k.str());
    if (name != "key" && name != "values" && name != "linspace" && name != "range")
      throw InputError(key + "." + name, "unknown key; allowed: key, values, linspace, range");
  }
  SweepAxis axis;
  const auto* k = t.get("key");
  if (k == nullptr || !k->is_string())
    throw InputError(key + ".key",
                     "is required: the configuration key to vary, e.g. \"model.beta\"");
  axis.key = k->as_string()->get();
  const auto dot = axis.key.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == axis.key.size() ||
      axis.key.starts_with("sweep."))
    throw InputError(key + ".key",
                     "must name a configuration key as section.key, got '" + axis.key + "'");
  const int forms = (t.contains("values") ? 1 : 0) + (t.contains("linspace") ? 1 : 0) +
                    (t.contains("range") ? 1 : 0);
  if (forms != 1) throw InputError(key, "give exactly one of values, linspace, range");
  if (const auto* v = t.get("values")) {
    const auto* a = v->as_array();
    if (a == nullptr || a->empty()) throw InputError(key + ".values", "must be a non-empty array");
    bool numeric = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string ekey = key + ".values[" + std::to_string(i) + "]";
      if (e.is_string()) {
        numeric = false;
        axis.values.push_back(toml_string(e.as_string()->get()));
      } else if (e.is_boolean()) {
        numeric = false;
        axis.values.push_back(e.as_boolean()->get() ? "true" : "false");
      } else if (e.is_integer()) {
        axis.values.push_back(std::to_string(e.as_integer()->get()));
        axis.numbers.push_back(static_cast<double>(e.as_integer()->get()));
      } else {
        const double x = number(e, ekey);
        std::string text = format_number(x);
        if (text.find_first_of(".en") == std::string::npos) text += ".0";  // stays a TOML float
        axis.values.push_back(text);
        axis.numbers.push_back(x);
      }
    }
    if (!numeric) axis.numbers.clear();
  } else if (const auto* l = t.get("linspace")) {
    const auto* a = l->as_array();
    if (a == nullptr || a->size() != 3)
      throw InputError(key + ".linspace", "must be [start, stop, count]");
    const double lo = number(*a->get(0), key + ".linspace[0]");
    const double hi = number(*a->get(1), key + ".linspace[1]");
    const std::int64_t count = integer(*a->get(2), key + ".linspace[2]");
    if (count < 1 || count > 1'000'000)
      throw InputError(key + ".linspace[2]",
                       "must be an integer in [1, 1000000], got " + std::to_string(count));
    for (std::int64_t i = 0; i < count; ++i) {
      const double x = count == 1       ? lo
                       : i + 1 == count ? hi
                                        : lo + (hi - lo) * static_cast<double>(i) /
                                                   static_cast<double>(count - 1);
      std::string text = format_number(x);
      if (text.find_first_of(".en") == std::string::npos) text += ".0";
      axis.values.push_back(text);
      axis.numbers.push_back(x);
    }
  } else {
    const auto* a = t.get("range")->as_array();
    if (a == nullptr || (a->size() != 2 && a->size() != 3))
      throw InputError(key + ".range",
                       "must be [start, stop] or [start, stop, step] (integers, stop excluded)");
    const std::int64_t lo = integer(*a->get(0), key + ".range[0]");
    const std::int64_t hi = integer(*a->get(1), key + ".range[1]");
    const std::int64_t step = a->size() == 3 ? integer(*a->get(2), key + ".range[2]") : 1;
    if (step < 1)
      throw InputError(key + ".range[2]",
                       "must be a positive integer, got " + std::to_string(step));
    if (hi <= lo) throw InputError(key + ".range", "is empty: stop must exceed start");
    if ((hi - lo) / step > 10'000'000)
      throw InputError(key + ".range", "has more than 10000000 values");
    for (std::int64_t value = lo; value < hi; value += step) {
      axis.values.push_back(std::to_string(value));
      axis.numbers.push_back(static_cast<double>(value));
    }
  }
  return axis;
}

/// Overrides for grid point g (row-major, axis 0 slowest).
std::vector<std::string> overrides_for(const SweepSpec& spec, std::size_t g) {
  std::vector<std::string> out = spec.overrides;
  std::vector<std::size_t> coord(spec.axes.size());
  for (std::size_t k = spec.axes.size(); k-- > 0;) {
    const std::size_t len = spec.axes[k].values.size();
    coord[k] = g % len;
    g /= len;
  }
  for (std::size_t k = 0; k < spec.axes.size(); ++k) {
    std::string o = spec.axes[k].key;
    o += '=';
    o += spec.axes[k].values[coord[k]];
    out.push_back(std::move(o));
  }
  return out;
}

std::size_t grid_size(const SweepSpec& spec) {
  std::size_t n = 1;
  for (const SweepAxis& a : spec.axes) n *= a.values.size();
  return n;
}

/// The recorded output times of a configuration.
std::vector<double> recorded_times(const RunConfig& c) {
  std::vector<double> t;
  for (std::size_t k = 0; k < c.output.times.size(); ++k)
    if (c.output.record[k]) t.push_back(c.output.times[k]);
  return t;
}

std::string statistic_name(double q) {
  if (q == 0.5) return "median";
  return "q" + format_number(std::round(q * 1e6) / 1e4);
}

/// One system: observables × recorded frames, NaN after a numerical failure (message returned).
std::string run_system(const SweepSpec& spec, std::size_t g, std::size_t frames, double* out) {
  const RunConfig cfg = parse_config(spec.base_text, overrides_for(spec, g), spec.base_dir);
  const Measure m = initial_measure(cfg.init, cfg.model.geometry);
  validate_model(cfg.model, m.d());
  Dynamics dynamics(AttentionField(cfg.model, m.weights, m.positions));
  ObservableSet observables(cfg.output.observables, cfg.output.cluster_threshold);
  const std::size_t n_obs = cfg.output.observables.size();
  std::fill(out, out + n_obs * frames, kNaN);
  std::size_t r = 0;
  Matrix x = m.x;
  try {
    Quadrature* quadrature = observables.quadrature(dynamics, cfg.output.times.front(), x);
    integrate(
        dynamics, x, cfg.output.times, cfg.integrate,
        [&](std::size_t k, double t, const Matrix& state) {
          if (!cfg.output.record[k]) return;
          const std::vector<double> v = observables.evaluate(t, state, dynamics);
          for (std::size_t o = 0; o < n_obs; ++o) out[o * frames + r] = v[o];
          ++r;
        },
        quadrature);
  } catch (const NumericalError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

SweepSpec parse_sweep(const std::string& text, const std::vector<std::string>& overrides,
                      const std::filesystem::path& base_dir) {
  toml::table root = toml_util::parse_toml(text);
  const toml::node* sweep_node = root.get("sweep");
  if (sweep_node == nullptr || !sweep_node->is_table())
    throw InputError(
        "sweep", "a sweep configuration needs a [sweep] table with at least one [[sweep.axis]]");
  const toml::table sweep = *sweep_node->as_table();
  root.erase("sweep");
  SweepSpec spec;
  spec.text = text;
  spec.base_dir = base_dir;
  spec.overrides = overrides;
  std::ostringstream base;
  base << root << "\n";
  spec.base_text = base.str();
  for (const auto& [k, node] : sweep) {
    const std::string name(k.str());
    if (name != "axis" && name != "batch" && name != "quantiles" && name != "keep_systems")
      throw InputError("sweep." + name,
                       "unknown key; allowed: axis, batch, quantiles, keep_systems");
  }
  const auto* axes = sweep.get("axis");
  if (axes == nullptr || !axes->is_array_of_tables() || axes->as_array()->empty())
    throw InputError("sweep.axis", "must be a non-empty array of tables ([[sweep.axis]])");
  for (std::size_t i = 0; i < axes->as_array()->size(); ++i) {
    const std::string key = "sweep.axis[" + std::to_string(i) + "]";
    SweepAxis axis = parse_axis(*axes->as_array()->get(i)->as_table(), key);
    for (const SweepAxis& other : spec.axes)
      if (other.key == axis.key)
        throw InputError(key + ".key", "'" + axis.key + "' is swept twice");
    spec.axes.push_back(std::move(axis));
  }
  if (const auto* b = sweep.get("batch")) {
    if (!b->is_string())
      throw InputError("sweep.batch", "must be a string (an axis key), got " + type_name(*b));
    const std::string batch = b->as_string()->get();
    for (std::size_t i = 0; i < spec.axes.size(); ++i)
      if (spec.axes[i].key == batch) spec.batch_axis = static_cast<int>(i);
    if (spec.batch_axis < 0)
      throw InputError("sweep.batch", "'" + batch + "' is not the key of a [[sweep.axis]]");
  }
  if (const auto* q = sweep.get("quantiles")) {
    const auto* a = q->as_array();
    if (a == nullptr) throw InputError("sweep.quantiles", "must be an array of numbers in [0, 1]");
    spec.quantiles.clear();
    for (std::size_t i = 0; i < a->size(); ++i) {
      const double v = number(*a->get(i), "sweep.quantiles[" + std::to_string(i) + "]");
      if (v < 0.0 || v > 1.0)
        throw InputError("sweep.quantiles[" + std::to_string(i) + "]",
                         "must lie in [0, 1], got " + format_number(v));
      spec.quantiles.push_back(v);
    }
  }
  if (const auto* k = sweep.get("keep_systems")) {
    if (!k->is_boolean())
      throw InputError("sweep.keep_systems", "must be true or false, got " + type_name(*k));
    spec.keep_systems = k->as_boolean()->get();
  }
  if (spec.batch_axis < 0) spec.keep_systems = true;
  if (grid_size(spec) > 100'000'000)
    throw InputError("sweep.axis", "the grid has more than 1e8 systems");
  return spec;
}

SweepSpec load_sweep(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError("config", "cannot read '" + path.string() + "': no such file or not readable");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_sweep(buffer.str(), overrides, path.parent_path());
}

void make_quick(SweepSpec& spec) {
  for (std::size_t k = 0; k < spec.axes.size(); ++k) {
    SweepAxis& a = spec.axes[k];
    const std::size_t keep = static_cast<int>(k) == spec.batch_axis ? 8 : 4;
    if (a.values.size() <= keep) continue;
    SweepAxis cut{a.key, {}, {}};
    for (std::size_t i = 0; i < keep; ++i) {
      const std::size_t j =
          static_cast<int>(k) == spec.batch_axis ? i : i * (a.values.size() - 1) / (keep - 1);
      cut.values.push_back(a.values[j]);
      if (!a.numbers.empty()) cut.numbers.push_back(a.numbers[j]);
    }
    a = std::move(cut);
  }
}

SweepResult compute_sweep(const SweepSpec& spec, const SweepProgress& progress) {
  const std::size_t total = grid_size(spec);
  // Validation pass: every value of every axis (others at their first value) must give a valid
  // configuration with the same recorded times and observables, so that mistakes surface before
  // hours of computing, in a deterministic order.
  const RunConfig first = parse_config(spec.base_text, overrides_for(spec, 0), spec.base_dir);
  SweepResult result;
  result.times = recorded_times(first);
  result.observables = first.output.observables;
  if (result.observables.empty())
    throw InputError("output.observables", "a sweep needs at least one observable");
  for (const SweepAxis& a : spec.axes) result.shape.push_back(a.values.size());
  {
    std::size_t stride = 1;
    for (std::size_t k = spec.axes.size(); k-- > 0;) {
      for (std::size_t v = 0; v < spec.axes[k].values.size(); ++v) {
        const RunConfig c =
            parse_config(spec.base_text, overrides_for(spec, v * stride), spec.base_dir);
        if (recorded_times(c) != result.times)
          throw InputError(spec.axes[k].key,
                           "changes the output times; every system of a sweep must "
                           "record the same times");
        if (c.output.observables != result.observables)
          throw InputError(spec.axes[k].key,
                           "changes output.observables; every system of a sweep must "
                           "record the same observables");
        const Measure m = initial_measure(c.init, c.model.geometry);
        validate_model(c.model, m.d());
      }
      stride *= spec.axes[k].values.size();
    }
  }
  const std::size_t frames = result.times.size();
  const std::size_t n_obs = result.observables.size();
  const std::size_t per_system = n_obs * frames;

  // Outer points (the grid without the batch axis) × batch members.
  const std::size_t batch =
      spec.batch_axis >= 0 ? spec.axes[static_cast<std::size_t>(spec.batch_axis)].values.size() : 1;
  std::size_t inner = 1;  // stride of the batch axis in grid order
  if (spec.batch_axis >= 0)
    for (std::size_t k = static_cast<std::size_t>(spec.batch_axis) + 1; k < spec.axes.size(); ++k)
      inner *= spec.axes[k].values.size();
  const std::size_t outer = total / batch;
  auto grid_index = [&](std::size_t o, std::size_t b) {
    // o enumerates (coordinates before the batch axis, coordinates after it) in row-major order.
    const std::size_t hi = o / inner, lo = o % inner;
    return (hi * batch + b) * inner + lo;
  };

  if (spec.keep_systems) result.systems.assign(n_obs, std::vector<double>(total * frames, kNaN));
  if (spec.batch_axis >= 0) {
    result.statistics.push_back("mean");
    for (double q : spec.quantiles) result.statistics.push_back(statistic_name(q));
    result.reduced.assign(
        n_obs, std::vector<std::vector<double>>(result.statistics.size(),
                                                std::vector<double>(outer * frames, kNaN)));
  }

  const std::size_t chunk_outer = std::max<std::size_t>(1, 512 / batch);
  std::vector<double> buffer;
  std::size_t done = 0;
  for (std::size_t o0 = 0; o0 < outer; o0 += chunk_outer) {
    const std::size_t o1 = std::min(outer, o0 + chunk_outer);
    const std::size_t count = (o1 - o0) * batch;
    buffer.assign(count * per_system, kNaN);
    std::vector<std::string> failure(count);
    std::vector<std::exception_ptr> error(count);
    const auto n_items = static_cast<std::int64_t>(count);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t item = 0; item < n_items; ++item) {
      const auto s = static_cast<std::size_t>(item);
      const std::size_t g = grid_index(o0 + s / batch, s % batch);
      try {
        failure[s] = run_system(spec, g, frames, buffer.data() + s * per_system);
      } catch (...) {
        error[s] = std::current_exception();
      }
    }
    for (std::size_t s = 0; s < count; ++s)
      if (error[s]) std::rethrow_exception(error[s]);
    for (std::size_t s = 0; s < count; ++s) {
      const std::size_t g = grid_index(o0 + s / batch, s % batch);
      if (!failure[s].empty()) result.failures.emplace_back(g, failure[s]);
      if (spec.keep_systems)
        for (std::size_t o = 0; o < n_obs; ++o)
          std::copy_n(buffer.data() + s * per_system + o * frames, frames,
                      result.systems[o].data() + g * frames);
    }
    if (spec.batch_axis >= 0) {
      std::vector<double> values(batch);
      for (std::size_t oi = o0; oi < o1; ++oi)
        for (std::size_t o = 0; o < n_obs; ++o)
          for (std::size_t f = 0; f < frames; ++f) {
            for (std::size_t b = 0; b < batch; ++b)
              values[b] = buffer[((oi - o0) * batch + b) * per_system + o * frames + f];
            result.reduced[o][0][oi * frames + f] = analysis::finite_mean(values);
            for (std::size_t q = 0; q < spec.quantiles.size(); ++q)
              result.reduced[o][q + 1][oi * frames + f] =
                  analysis::quantile(values, spec.quantiles[q]);
          }
    }
    done += count;
    if (progress) progress(done, total);
  }
  std::sort(result.failures.begin(), result.failures.end());
  return result;
}

nlohmann::json run_sweep(const SweepSpec& spec, const std::filesystem::path& outdir,
                         const SweepProgress& progress) {
  const SweepResult r = compute_sweep(spec, progress);
  ensure_output_directory(outdir);
  nlohmann::json axes = nlohmann::json::array();
  for (const SweepAxis& a : spec.axes) {
    nlohmann::json values = nlohmann::json::array();
    if (!a.numbers.empty())
      for (double v : a.numbers) values.push_back(v);
    else
      for (const std::string& v : a.values) values.push_back(v);
    axes.push_back({{"key", a.key}, {"values", values}});
  }
  const std::string batch_key =
      spec.batch_axis >= 0 ? spec.axes[static_cast<std::size_t>(spec.batch_axis)].key : "";

  RunWriter writer(outdir / "sweep.h5", RunLayout{1, 1, false, {}, {}});
  writer.set_attribute("kind", std::string("sweep"));
  writer.set_attribute("version", std::string(ATTNFLOW_VERSION));
  writer.set_attribute("config", spec.text);
  writer.set_attribute("axes", axes.dump());
  writer.set_attribute("batch", batch_key);
  writer.set_attribute("observables", nlohmann::json(r.observables).dump());
  writer.set_attribute("statistics", nlohmann::json(r.statistics).dump());
  for (double t : r.times) writer.append(t, nullptr, {}, {});
  for (const SweepAxis& a : spec.axes)
    if (!a.numbers.empty()) writer.write_dataset(a.key, {a.numbers.size()}, a.numbers.data());
  const std::size_t frames = r.times.size();
  for (std::size_t o = 0; o < r.observables.size(); ++o) {
    if (!r.systems.empty()) {
      std::vector<std::size_t> shape = r.shape;
      shape.push_back(frames);
      writer.write_dataset(r.observables[o], shape, r.systems[o].data());
    }
    for (std::size_t s = 0; s < r.statistics.size(); ++s) {
      std::vector<std::size_t> shape;
      for (std::size_t k = 0; k < r.shape.size(); ++k)
        if (static_cast<int>(k) != spec.batch_axis) shape.push_back(r.shape[k]);
      shape.push_back(frames);
      writer.write_dataset(r.observables[o] + "." + r.statistics[s], shape, r.reduced[o][s].data());
    }
  }

  nlohmann::json summary;
  summary["kind"] = "sweep";
  summary["attnflow_version"] = ATTNFLOW_VERSION;
  std::size_t systems = 1;
  for (std::size_t len : r.shape) systems *= len;
  summary["systems"] = systems;
  summary["shape"] = r.shape;
  summary["axes"] = axes;
  summary["batch"] = batch_key;
  summary["frames"] = frames;
  summary["observables"] = r.observables;
  summary["statistics"] = r.statistics;
  summary["systems_stored"] = !r.systems.empty();
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& [g, what] : r.failures) failures.push_back({{"system", g}, {"error", what}});
  summary["failures"] = failures;
  summary["status"] = r.failures.empty() ? "ok" : "some systems failed";
  summary["files"] = {{"sweep", "sweep.h5"}, {"summary", "summary.json"}};
  writer.commit();
  write_json_atomic(outdir / "summary.json", summary);
  return summary;
}

}  // namespace attnflow::io
