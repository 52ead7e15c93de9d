#pragma once
// The [model] table of a run configuration on its own, for callers that build the table themselves
// (the Python module converts a dict to a TOML table): the same keys, defaults, validation and
// error messages as `attnflow run` ("model.beta: must be finite and > 0, got -1").
#include <toml++/toml.h>

#include "attnflow/model.hpp"

namespace attnflow::io {

/// Parses a [model] table for tokens of dimension d, exactly as parse_config does; nullptr gives
/// the default model (one head Q = K = V = I_d, softmax, β = 1, sphere). Throws
/// InputError("model.<key>", ...).
Model parse_model_table(const toml::table* table, Index d);

}  // namespace attnflow::io
