// `attnflow info`: what this binary is and what it runs on.
#include <hdf5.h>
#include <omp.h>

#include <toml++/toml.h>
#include <iostream>
#include <nlohmann/json.hpp>

#include "attnflow/kernel_registry.hpp"
#include "attnflow/observables.hpp"
#include "commands.hpp"

namespace attnflow::cli {

namespace {

std::string compiled_simd() {
#if defined(__AVX512F__)
  return "avx512f";
#elif defined(__AVX2__)
  return "avx2";
#elif defined(__AVX__)
  return "avx";
#elif defined(__SSE2__)
  return "sse2";
#else
  return "scalar";
#endif
}

std::string cpu_simd() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2+fma";
  if (__builtin_cpu_supports("avx")) return "avx";
  return "sse2";
#else
  return "unknown";
#endif
}

}  // namespace

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

Action add_info_command(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("info", "Version, compiler, SIMD level, threads, features (JSON)");
  return [cmd]() {
    (void)cmd;
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    nlohmann::json j;
    j["version"] = ATTNFLOW_VERSION;
    j["compiler"] = ATTNFLOW_CXX_COMPILER;
    j["simd"] = {{"compiled_for", compiled_simd()}, {"cpu_supports", cpu_simd()}};
    j["threads"] = omp_get_max_threads();
    j["precision"] = "float64";
    std::vector<std::string> kernels, observables;
    for (const auto& k : kKernels) kernels.emplace_back(k.name);
    for (const auto& o : kObservables) observables.emplace_back(o.name);
    j["kernels"] = kernels;
    j["geometries"] = {"euclidean", "sphere"};
    j["integrators"] = {"euler", "rk4", "dopri5"};
    j["observables"] = observables;
    j["features"] = {
        {"hdf5",
         std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release)},
        {"eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                      "." + std::to_string(EIGEN_MINOR_VERSION)},
        {"tomlplusplus", std::to_string(TOML_LIB_MAJOR) + "." + std::to_string(TOML_LIB_MINOR) +
                             "." + std::to_string(TOML_LIB_PATCH)},
        {"openmp", _OPENMP}};
    std::cout << j.dump(2) << "\n";
    return 0;
  };
}

}  // namespace attnflow::cli
