#pragma once
// The run file: one HDF5 file per run, written frame by frame while the simulation advances, and
// made visible under its final name only once complete (see commit()).
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace attnflow::io {

/// Integer types other than bool and std::int64_t (which has its own set_attribute overload).
template <typename T>
concept OtherInteger = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, std::int64_t>;

/// What a run file stores per output frame; fixed for the lifetime of a RunWriter.
struct RunLayout {
  /// Number of tokens (≥ 1).
  std::size_t n = 0;
  /// Dimension of each token (≥ 1).
  std::size_t d = 0;
  /// Whether positions are stored as /x; without them the file holds only /t and observables.
  bool trajectory = true;
  /// Observables with one value per frame, each stored as /<name> of shape (T).
  std::vector<std::string> scalar_observables;
  /// Observables with one value per token per frame, each stored as /<name> of shape (T, n).
  std::vector<std::string> token_observables;
};

/// Writes one run file incrementally with HDF5 under a temporary sibling name; commit() renames it
/// into place, and destruction without commit() deletes it, so the final path only ever holds a
/// complete file (or whatever it held before). Identical call sequences give byte-identical files.
///
/// File layout (all float64, all per-frame datasets extendible along T):
///   /t       (T)        output times
///   /x       (T, n, d)  positions, only if layout.trajectory; one frame per chunk (split over
///                       tokens beyond 4 MiB), shuffle + gzip level 4
///   /<name>  (T)        each scalar observable
///   /<name>  (T, n)     each token observable
///   root attributes from set_attribute(), fixed datasets from write_dataset().
///
/// Not thread-safe (nor is the HDF5 library it uses): one thread at a time, and no concurrent HDF5
/// use elsewhere in the process.
class RunWriter {
 public:
  /// Creates parent directories and the temporary file with all per-frame datasets at T = 0.
  /// Throws InputError("output.observables", ...) for an empty, '/'-containing, "." or duplicate
  /// observable name or one of the reserved names "t" and "x"; InputError("output", ...) if the
  /// file cannot be created; std::invalid_argument if n or d is 0. Also switches off HDF5's
  /// automatic error printing (process-wide): its errors become exceptions instead.
  RunWriter(std::filesystem::path final_path, RunLayout layout);
  RunWriter(RunWriter&&) noexcept;
  RunWriter& operator=(RunWriter&&) noexcept;
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;
  /// Without a successful commit(): closes and deletes the temporary file. Never throws.
  ~RunWriter();

  /// Appends one output frame: time, positions (n×d row-major, written only if
  /// layout.trajectory), one value per scalar observable (same order as layout), one pointer to n
  /// doubles per token observable (same order). std::invalid_argument on a count mismatch or null
  /// pointer; std::runtime_error on an HDF5 failure, after which the writer refuses further use.
  void append(double t, const double* x, const std::vector<double>& scalars,
              const std::vector<const double*>& token_arrays);
  /// Sets (or replaces) a UTF-8 variable-length string attribute on the root group.
  void set_attribute(const std::string& name, const std::string& value);
  /// Sets (or replaces) a 64-bit integer attribute on the root group.
  void set_attribute(const std::string& name, std::int64_t value);
  /// Sets (or replaces) a float64 attribute on the root group.
  void set_attribute(const std::string& name, double value);
  /// Any other integer type (int, std::size_t, ...) is stored as a 64-bit integer; without this,
  /// set_attribute("seed", 42) would be ambiguous between the int64 and double overloads.
  /// std::invalid_argument if an unsigned value exceeds the int64 range.
  template <OtherInteger T>
  void set_attribute(const std::string& name, T value) {
    if (std::cmp_greater(value, std::numeric_limits<std::int64_t>::max())) {
      throw std::invalid_argument("attribute '" + name + "' does not fit in int64");
    }
    set_attribute(name, static_cast<std::int64_t>(value));
  }
  /// Writes a fixed float64 dataset /<name> of `shape` (C order; empty shape = scalar), e.g.
  /// /weights. std::invalid_argument if the name is invalid or already used.
  void write_dataset(const std::string& name, const std::vector<std::size_t>& shape,
                     const double* data);
  /// Number of frames appended so far.
  std::size_t frames() const;
  /// Flushes and closes the file, then atomically renames it to the final path (replacing any
  /// file there). After commit() only frames() and destruction are allowed.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace attnflow::io
