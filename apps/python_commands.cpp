// The subcommands written in Python: `attnflow plot OUTDIR`, `attnflow animate OUTDIR` (figures and
// movies of a run; python/attnflow/plot.py, animate.py) and `attnflow reproduce` (the papers'
// experiments; python/attnflow/reproduce/). The command line runs `python3 -m attnflow <command>
// ...` with the package on PYTHONPATH and hands every further option to it. Python drives this
// binary back through $ATTNFLOW_EXE, and finds the experiment configs through
// $ATTNFLOW_EXPERIMENTS.
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
#ifndef ATTNFLOW_EXPERIMENTS_DIR
#define ATTNFLOW_EXPERIMENTS_DIR ""
#endif
#ifndef ATTNFLOW_EXPERIMENTS_FROM_BIN
#define ATTNFLOW_EXPERIMENTS_FROM_BIN "../share/attnflow/experiments"
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

/// The directory of experiment configs: $ATTNFLOW_EXPERIMENTS, the source tree this binary was
/// built from, or the install location relative to the binary.
std::string experiments_dir() {
  if (const char* env = std::getenv("ATTNFLOW_EXPERIMENTS"); env != nullptr && *env != '\0')
    return env;
  std::error_code ec;
  if (!std::string(ATTNFLOW_EXPERIMENTS_DIR).empty() &&
      fs::is_directory(ATTNFLOW_EXPERIMENTS_DIR, ec))
    return ATTNFLOW_EXPERIMENTS_DIR;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && fs::is_directory(exe.parent_path() / ATTNFLOW_EXPERIMENTS_FROM_BIN, ec))
    return fs::weakly_canonical(exe.parent_path() / ATTNFLOW_EXPERIMENTS_FROM_BIN).string();
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
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) ::setenv("ATTNFLOW_EXE", exe.c_str(), 1);
  if (const std::string experiments = experiments_dir(); !experiments.empty())
    ::setenv("ATTNFLOW_EXPERIMENTS", experiments.c_str(), 1);
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

Action add_reproduce_command(CLI::App& app) {
  return add_python_command(
      app, "reproduce",
      "The papers' experiments: `reproduce list`, `reproduce NAME [-o DIR] [--quick]`, `reproduce "
      "all [--report docs/validation.md]`; options: attnflow reproduce --help");
}

}  // namespace attnflow::cli
