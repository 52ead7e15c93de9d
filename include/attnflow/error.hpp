#pragma once
// User-facing errors: every problem a user can fix carries the configuration key (or argument name)
// it concerns, so the command line can print `error: <key>: <what is wrong, what is allowed>`.
#include <charconv>
#include <stdexcept>
#include <string>

namespace attnflow {

/// A problem with the input (configuration, file, array shape, value). The CLI exits with status 2.
class InputError : public std::runtime_error {
 public:
  InputError(std::string key, const std::string& what)
      : std::runtime_error(key + ": " + what), key_(std::move(key)) {}
  /// The configuration key or argument the problem concerns, e.g. "model.beta".
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

/// A run that became numerically invalid (NaN / infinity). The CLI exits with status 3 and keeps
/// the frames written up to the last good output time.
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The shortest text that reads back as the same double (e.g. "-1", "0.1", "inf"): numbers in
/// error messages are shown exactly as the user wrote them.
inline std::string format_number(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace attnflow
