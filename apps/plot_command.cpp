// `attnflow plot OUTDIR` and `attnflow animate OUTDIR`: the standard figures and movies of a run,
// made by the Python package (python/attnflow/plot.py, animate.py; matplotlib). The command line
// runs `python3 -m attnflow plot|animate OUTDIR ...` with the package on PYTHONPATH and hands every
// further option to it (see `attnflow plot OUTDIR --help`).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "attnflow/error.hpp"
#include "commands.hpp"

#ifndef ATTNFLOW_PYTHON_EXECUTABLE
#define ATTNFLOW_PYTHON_EXECUTABLE "/usr/bin/python3"
#endif
#ifndef ATTNFLOW_PYTHON_BUILD_DIR
#define ATTNFLOW_PYTHON_BUILD_DIR ""
#endif
#ifndef ATTNFLOW_PYTHON_FROM_BIN
#define ATTNFLOW_PYTHON_FROM_BIN "../lib/python3/dist-packages"
#endif

namespace attnflow::cli {

namespace {

namespace fs = std::filesystem;

bool has_package(const fs::path& dir) {
  std::error_code ec;
  return !dir.empty() && fs::exists(dir / "attnflow" / "__init__.py", ec);
}

/// The directory that holds the attnflow Python package: $ATTNFLOW_PYTHONPATH, the build tree next
/// to this executable, the build tree it was configured in, or the install location relative to it.
std::string python_package_dir() {
  if (const char* env = std::getenv("ATTNFLOW_PYTHONPATH"); env != nullptr && *env != '\0')
    return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path bin = exe.parent_path();
    if (has_package(bin.parent_path() / "python")) return (bin.parent_path() / "python").string();
    if (has_package(bin / ATTNFLOW_PYTHON_FROM_BIN))
      return fs::weakly_canonical(bin / ATTNFLOW_PYTHON_FROM_BIN).string();
  }
  if (has_package(ATTNFLOW_PYTHON_BUILD_DIR)) return ATTNFLOW_PYTHON_BUILD_DIR;
  return {};
}

/// Replaces this process by `python3 -m attnflow <what> ARGS...`; returns only on failure.
int exec_python(const std::string& what, const std::vector<std::string>& args) {
  const std::string dir = python_package_dir();
  if (dir.empty())
    throw InputError(
        what,
        "the attnflow Python package was not found (build it with `make build`, install it with "
        "`cmake --install`, or set ATTNFLOW_PYTHONPATH to the directory that holds attnflow/)");
  std::string path = dir;
  if (const char* old = std::getenv("PYTHONPATH"); old != nullptr && *old != '\0')
    path += std::string(":") + old;
  ::setenv("PYTHONPATH", path.c_str(), 1);
  const char* env_python = std::getenv("ATTNFLOW_PYTHON");
  const std::string python =
      env_python != nullptr && *env_python != '\0' ? env_python : ATTNFLOW_PYTHON_EXECUTABLE;
  std::vector<std::string> argv_s{python, "-m", "attnflow", what};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execv(python.c_str(), argv.data());
  throw InputError(what, "cannot run " + python + ": " + std::strerror(errno));
}

Action add_python_command(CLI::App& app, const std::string& name, const std::string& help) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->allow_extras();
  cmd->prefix_command();  // everything after the subcommand goes to Python untouched (--help
                          // included)
  cmd->set_help_flag();
  return [cmd, name]() { return exec_python(name, cmd->remaining()); };
}

}  // namespace

Action add_plot_command(CLI::App& app) {
  return add_python_command(
      app, "plot",
      "Standard figures of OUTDIR (run.h5, sweep.h5, gaussian.csv) as PNG; options: "
      "attnflow plot --help (needs python3-matplotlib)");
}

Action add_animate_command(CLI::App& app) {
  return add_python_command(
      app, "animate",
      "Token movie of OUTDIR/run.h5 (GIF or MP4; S^2 with a rotating camera); options: "
      "attnflow animate --help (needs python3-matplotlib, ffmpeg for MP4)");
}

}  // namespace attnflow::cli
