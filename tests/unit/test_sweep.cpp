// Batched sweeps: the grid of a [sweep] section, every system equal (bitwise) to the same
// configuration run by `attnflow run`, the batch statistics recomputed here, and the same numbers
// for any thread count.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "attnflow/error.hpp"
#include "attnflow/io/config.hpp"
#include "attnflow/io/run.hpp"
#include "attnflow/io/run_reader.hpp"
#include "attnflow/io/sweep.hpp"

namespace {

using namespace attnflow;
using namespace attnflow::io;

const char* kSweep = R"(
[model]
geometry = "sphere"
beta = 1.0
[init]
kind = "uniform_sphere"
n = 8
d = 3
seed = 0
[integrate]
method = "rk4"
dt = 0.1
t_end = 1.0
[output]
every = 0.5
observables = ["pair_fraction", "clusters", "normalized_energy"]
cluster_threshold = 0.2
[sweep]
batch = "init.seed"
quantiles = [0.25, 0.5]
keep_systems = true
[[sweep.axis]]
key = "model.beta"
values = [0.5, 4]
[[sweep.axis]]
key = "init.seed"
range = [3, 8]
)";

std::string expect_error(const std::string& text) {
  try {
    parse_sweep(text, {}, {});
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Sweep, ParsesAxes) {
  const SweepSpec s = parse_sweep(kSweep, {}, {});
  ASSERT_EQ(s.axes.size(), 2u);
  EXPECT_EQ(s.axes[0].key, "model.beta");
  EXPECT_EQ(s.axes[0].values, (std::vector<std::string>{"0.5", "4"}));
  EXPECT_EQ(s.axes[1].values, (std::vector<std::string>{"3", "4", "5", "6", "7"}));
  EXPECT_EQ(s.batch_axis, 1);
  const SweepSpec l =
      parse_sweep(std::string(kSweep).replace(std::string(kSweep).find("values = [0.5, 4]"), 17,
                                              "linspace = [1, 2, 5]"),
                  {}, {});
  EXPECT_EQ(l.axes[0].values, (std::vector<std::string>{"1.0", "1.25", "1.5", "1.75", "2.0"}));
  EXPECT_EQ(l.base_text.find("[sweep"), std::string::npos);
}

TEST(Sweep, ErrorsNameTheKey) {
  const std::string base = "[init]\nn = 4\n";
  EXPECT_EQ(expect_error(base),
            "sweep: a sweep configuration needs a [sweep] table with at least one [[sweep.axis]]");
  EXPECT_EQ(expect_error(base + "[sweep]\nbatch = \"init.seed\"\n"),
            "sweep.axis: must be a non-empty array of tables ([[sweep.axis]])");
  EXPECT_EQ(expect_error(base + "[[sweep.axis]]\nkey = \"beta\"\nvalues = [1]\n"),
            "sweep.axis[0].key: must name a configuration key as section.key, got 'beta'");
  EXPECT_EQ(
      expect_error(base +
                   "[[sweep.axis]]\nkey = \"model.beta\"\nvalues = [1]\nlinspace = [0, 1, 2]\n"),
      "sweep.axis[0]: give exactly one of values, linspace, range");
  EXPECT_EQ(expect_error(base + "[[sweep.axis]]\nkey = \"model.beta\"\nlinspace = [0, 1, 0]\n"),
            "sweep.axis[0].linspace[2]: must be an integer in [1, 1000000], got 0");
  EXPECT_EQ(
      expect_error(
          base +
          "[sweep]\nbatch = \"init.n\"\n[[sweep.axis]]\nkey = \"model.beta\"\nvalues = [1]\n"),
      "sweep.batch: 'init.n' is not the key of a [[sweep.axis]]");
  EXPECT_EQ(expect_error(
                base +
                "[sweep]\nquantiles = [1.5]\n[[sweep.axis]]\nkey = \"model.beta\"\nvalues = [1]\n"),
            "sweep.quantiles[0]: must lie in [0, 1], got 1.5");
  // A key the run configuration does not know is refused by its parser, before any system runs.
  SweepSpec bad =
      parse_sweep(base + "[[sweep.axis]]\nkey = \"model.betta\"\nvalues = [1]\n", {}, {});
  try {
    compute_sweep(bad);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("model.betta: unknown key", 0), 0u);
  }
  SweepSpec times =
      parse_sweep(base + "[[sweep.axis]]\nkey = \"integrate.t_end\"\nvalues = [1, 2]\n", {}, {});
  try {
    compute_sweep(times);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "integrate.t_end: changes the output times; every system of a sweep must record "
                 "the same times");
  }
}

// Every system equals `attnflow run` of the same configuration (bitwise: same code path, same
// seed), so the grid ↔ override bookkeeping is right; statistics are recomputed here from the
// stored systems (mean in index order, NumPy-linear quantiles).
TEST(Sweep, SystemsMatchSingleRunsAndStatisticsMatchTheSystems) {
  const SweepSpec spec = parse_sweep(kSweep, {}, {});
  const SweepResult r = compute_sweep(spec);
  ASSERT_EQ(r.shape, (std::vector<std::size_t>{2, 5}));
  ASSERT_EQ(r.times, (std::vector<double>{0.0, 0.5, 1.0}));
  ASSERT_EQ(r.statistics, (std::vector<std::string>{"mean", "q25", "median"}));
  const std::size_t frames = 3;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnflow_sweep_test_" + std::to_string(::getpid()));
  for (std::size_t g : {std::size_t{0}, std::size_t{7}}) {
    const std::string beta = g / 5 == 0 ? "0.5" : "4";
    const std::string seed = std::to_string(3 + g % 5);
    const RunConfig c =
        parse_config(spec.base_text, {"model.beta=" + beta, "init.seed=" + seed}, {});
    run_experiment(c, dir);
    const RunReader run(dir / "run.h5");
    for (std::size_t o = 0; o < r.observables.size(); ++o) {
      const std::vector<double> expected = run.series(r.observables[o]);
      for (std::size_t f = 0; f < frames; ++f) EXPECT_EQ(r.systems[o][g * frames + f], expected[f]);
    }
  }
  std::filesystem::remove_all(dir);
  for (std::size_t o = 0; o < r.observables.size(); ++o)
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t f = 0; f < frames; ++f) {
        std::vector<double> v;
        for (std::size_t s = 0; s < 5; ++s) v.push_back(r.systems[o][(b * 5 + s) * frames + f]);
        double sum = 0.0;
        for (double x : v) sum += x;
        std::sort(v.begin(), v.end());
        EXPECT_EQ(r.reduced[o][0][b * frames + f], sum / 5.0);
        EXPECT_DOUBLE_EQ(r.reduced[o][1][b * frames + f], v[1]);  // q = 0.25: position 1 of 0..4
        EXPECT_EQ(r.reduced[o][2][b * frames + f], v[2]);
      }
  // The clustering observables vary over the grid: the test is informative.
  EXPECT_NE(r.systems[0][2], r.systems[0][7 * frames + 2]);
}

TEST(Sweep, SameNumbersForAnyThreadCount) {
  SweepSpec spec = parse_sweep(kSweep, {}, {});
  spec.keep_systems = true;
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const SweepResult one = compute_sweep(spec);
  omp_set_num_threads(3);
  const SweepResult three = compute_sweep(spec);
  omp_set_num_threads(before);
  EXPECT_EQ(one.systems, three.systems);
  EXPECT_EQ(one.reduced, three.reduced);
}

TEST(Sweep, QuickKeepsEndsAndBatchPrefix) {
  SweepSpec spec = parse_sweep(
      "[sweep]\nbatch = \"init.seed\"\n[[sweep.axis]]\nkey = \"model.beta\"\nlinspace = [1, 10, "
      "10]\n"
      "[[sweep.axis]]\nkey = \"init.seed\"\nrange = [0, 100]\n",
      {}, {});
  make_quick(spec);
  EXPECT_EQ(spec.axes[0].values, (std::vector<std::string>{"1.0", "4.0", "7.0", "10.0"}));
  EXPECT_EQ(spec.axes[1].values.size(), 8u);
  EXPECT_EQ(spec.axes[1].values.front(), "0");
}

}  // namespace
