#pragma once
// Reading run files back (the layout of run_writer.hpp) for the analysis commands. Every problem
// with a file is an InputError whose key is the file's path as given, with a message that names
// the attribute or dataset, e.g. `runs/a.h5: has no dataset /x (written with output.trajectory =
// false?)`.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "attnflow/io/config.hpp"
#include "attnflow/measure.hpp"

namespace attnflow::io {

/// An open run file: attributes, times, masses and positions read at once; frames on demand.
/// Not thread-safe (HDF5 is not).
class RunReader {
 public:
  /// Opens `path` and checks that it is an HDF5 run file written by this major.minor version of
  /// attnflow with /t, /weights, /positions and (if present) /x of shape (T, n, d).
  explicit RunReader(const std::filesystem::path& path);
  /// Moves the open file.
  RunReader(RunReader&&) noexcept;
  /// Moves the open file.
  RunReader& operator=(RunReader&&) noexcept;
  /// Closes the file.
  ~RunReader();

  /// The path as given (the key of every error about this file).
  const std::string& key() const;
  /// The `version` attribute, e.g. "0.1.0".
  const std::string& version() const;
  /// The resolved configuration (`config` attribute; empty if absent).
  const std::string& config_text() const;
  /// Output times /t.
  const std::vector<double>& times() const;
  /// Number of frames T.
  std::size_t frames() const { return times().size(); }
  /// Number of tokens (the length of /weights).
  Index n() const;
  /// Token dimension (0 when the file has no /x).
  Index d() const;
  /// Whether /x is stored.
  bool has_trajectory() const;
  /// Token masses /weights.
  const std::vector<double>& weights() const;
  /// Sequence positions /positions.
  const std::vector<double>& positions() const;

  /// Frame k of /x (n×d). InputError(key, "has no dataset /x ...") without a trajectory.
  Matrix frame(std::size_t k) const;
  /// Frame k as a measure (tokens, masses, positions).
  Measure measure(std::size_t k) const;

  /// Whether a 1-D per-frame dataset /<name> of length T exists.
  bool has_series(const std::string& name) const;
  /// The per-frame dataset /<name>; InputError(key, "has no dataset /<name>") if missing.
  std::vector<double> series(const std::string& name) const;

  /// The run's configuration parsed back (model, integration, output); the initial data are not
  /// rebuilt (init.kind is read as "uniform_sphere", so no .npy file is needed).
  RunConfig config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// "0.1" of "0.1.0": the part of a version that must match for a run file to be read.
std::string format_version(const std::string& version);

}  // namespace attnflow::io
