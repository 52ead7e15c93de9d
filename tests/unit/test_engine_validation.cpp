// User-facing errors of the model, the measure and the name registries: each message pinned
// exactly (the CLI prints them verbatim as `error: <key>: <what>`).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "attnflow/error.hpp"
#include "attnflow/geometry.hpp"
#include "attnflow/integrator.hpp"
#include "attnflow/kernel_registry.hpp"
#include "attnflow/measure.hpp"
#include "attnflow/model.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace attnflow;
using namespace enginetest;

/// Runs f, expecting an InputError with exactly this key and message.
template <class F>
void expect_input_error(F&& f, const std::string& key, const std::string& message) {
  try {
    f();
    ADD_FAILURE() << "no InputError; expected: " << message;
  } catch (const InputError& e) {
    EXPECT_EQ(e.key(), key);
    EXPECT_EQ(std::string(e.what()), message);
  }
}

Model valid_three_head_model(Index d) {
  Rng rng(1);
  return multi_head(d, 1.0, KernelKind::softmax, rng);
}

TEST(ValidateModel, AcceptsWellFormedModels) {
  EXPECT_NO_THROW(validate_model(identity_model(3, 1.0), 3));
  EXPECT_NO_THROW(validate_model(valid_three_head_model(3), 3));
  EXPECT_EQ(model_dimension(identity_model(5, 1.0)), 5);
}

TEST(ValidateModel, RejectsNonPositiveOrNonFiniteBeta) {
  expect_input_error([&] { validate_model(identity_model(3, 0.0), 3); }, "model.beta",
                     "model.beta: must be finite and > 0, got 0");
  expect_input_error([&] { validate_model(identity_model(3, -1.5), 3); }, "model.beta",
                     "model.beta: must be finite and > 0, got -1.5");
  Model m = identity_model(3, std::numeric_limits<double>::infinity());
  expect_input_error([&] { validate_model(m, 3); }, "model.beta",
                     "model.beta: must be finite and > 0, got inf");
}

TEST(ValidateModel, RejectsWrongShapesWithTheHeadKey) {
  Model none = identity_model(3, 1.0);
  none.heads.clear();
  expect_input_error([&] { validate_model(none, 3); }, "model.heads",
                     "model.heads: at least one head is required");

  Model m = identity_model(3, 1.0);
  m.heads[0].Q = Matrix::Identity(3, 4);
  expect_input_error([&] { validate_model(m, 3); }, "model.Q",
                     "model.Q: must have d = 3 columns, got 3x4");
  m = identity_model(3, 1.0);
  m.heads[0].K = Matrix::Identity(3, 2);
  expect_input_error([&] { validate_model(m, 3); }, "model.K",
                     "model.K: must have d = 3 columns, got 3x2");
  m = identity_model(3, 1.0);
  m.heads[0].K = Matrix::Identity(2, 3);
  expect_input_error([&] { validate_model(m, 3); }, "model.K",
                     "model.K: must have as many rows as Q (3), got 2x3");
  m = identity_model(3, 1.0);
  m.heads[0].V = Matrix::Identity(3, 2);
  expect_input_error([&] { validate_model(m, 3); }, "model.V",
                     "model.V: must have d = 3 columns, got 3x2");
  m = identity_model(3, 1.0);
  m.heads[0].V = Matrix::Identity(2, 3);
  expect_input_error([&] { validate_model(m, 3); }, "model.V",
                     "model.V: must be 3x3 when no output matrix W is given, got 2x3");

  // Several heads: the key names the head. Head 1 has dv = 1, so W must be 3x1.
  Model multi = valid_three_head_model(3);
  multi.heads[1].W = Matrix::Identity(3, 2);
  expect_input_error([&] { validate_model(multi, 3); }, "model.heads[1].W",
                     "model.heads[1].W: must be 3x1 (d x rows of V), got 3x2");
  multi = valid_three_head_model(3);
  multi.heads[2].Q(0, 0) = std::numeric_limits<double>::quiet_NaN();
  expect_input_error([&] { validate_model(multi, 3); }, "model.heads[2].Q",
                     "model.heads[2].Q: all entries must be finite numbers");
  // The model's d must match the tokens'.
  expect_input_error([&] { validate_model(identity_model(3, 1.0), 4); }, "model.Q",
                     "model.Q: must have d = 4 columns, got 3x3");
}

TEST(ValidateMeasure, PinsEachMessage) {
  Measure good = uniform_measure(Matrix::Identity(3, 3));
  EXPECT_NO_THROW(validate_measure(good, true, "init"));
  EXPECT_EQ(good.weights, std::vector<double>(3, 1.0 / 3.0));
  EXPECT_EQ(good.positions, (std::vector<double>{0.0, 1.0, 2.0}));

  Measure empty = uniform_measure(Matrix(0, 3));
  expect_input_error([&] { validate_measure(empty, false, "init"); }, "init.n",
                     "init.n: must be at least 1, got 0");
  Measure m = good;
  m.weights.pop_back();
  expect_input_error([&] { validate_measure(m, false, "init"); }, "init.weights",
                     "init.weights: must have one entry per token (3), got 2");
  m = good;
  m.weights = {1.5, -0.5, 0.0};
  expect_input_error([&] { validate_measure(m, false, "init"); }, "init.weights",
                     "init.weights: must be finite and >= 0");
  m = good;
  m.weights = {0.3, 0.3, 0.3};
  expect_input_error([&] { validate_measure(m, false, "init"); }, "init.weights",
                     "init.weights: must sum to 1, got 0.8999999999999999");
  m = good;
  m.positions[1] = std::numeric_limits<double>::infinity();
  expect_input_error([&] { validate_measure(m, false, "init"); }, "init.positions",
                     "init.positions: must be finite numbers");
  m = good;
  m.x(1, 1) = 2.0;
  EXPECT_NO_THROW(validate_measure(m, false, "init"));  // R^d: any norm
  expect_input_error([&] { validate_measure(m, true, "init"); }, "init",
                     "init: token 1 has norm 2; geometry 'sphere' needs unit vectors "
                     "(|x| = 1 within 1e-9)");
}

TEST(Registries, NamesRoundTripAndUnknownNamesListTheAllowedOnes) {
  std::string allowed;
  for (const KernelInfo& info : kKernels) {
    EXPECT_EQ(kernel_from_name(info.name, "model.kernel"), info.kind);
    EXPECT_EQ(kernel_info(info.kind).name, info.name);
    allowed += (allowed.empty() ? "" : ", ") + std::string(info.name);
  }
  EXPECT_EQ(kernel_names(), allowed);
  expect_input_error([] { kernel_from_name("relu", "model.kernel"); }, "model.kernel",
                     "model.kernel: unknown kernel 'relu'; allowed: " + allowed);
  for (Geometry g : {Geometry::euclidean, Geometry::sphere})
    EXPECT_EQ(geometry_from_name(geometry_name(g), "model.geometry"), g);
  expect_input_error(
      [] { geometry_from_name("torus", "model.geometry"); }, "model.geometry",
      "model.geometry: unknown geometry 'torus'; allowed: euclidean, sphere, circle");
  for (Method m : {Method::euler, Method::rk4, Method::dopri5})
    EXPECT_EQ(method_from_name(method_name(m), "integrate.method"), m);
  expect_input_error([] { method_from_name("rk45", "integrate.method"); }, "integrate.method",
                     "integrate.method: unknown method 'rk45'; allowed: euler, rk4, dopri5");
}

}  // namespace
