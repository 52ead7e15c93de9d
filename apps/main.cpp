// attnflow: the command line. Every user-fixable problem ends as one line
//   error: <key>: <what is wrong, what is allowed>
// with exit status 2; a run that turns non-finite exits 3 after keeping its good frames.
#include <iostream>

#include "attnflow/error.hpp"
#include "attnflow/simd_dispatch.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"attnflow: deep Transformers as interacting particle systems", "attnflow"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ATTNFLOW_VERSION));
  std::vector<std::pair<CLI::App*, attnflow::cli::Action>> actions;
  auto add = [&](auto adder) {
    const std::size_t before = app.get_subcommands({}).size();
    attnflow::cli::Action action = adder(app);
    actions.emplace_back(app.get_subcommands({})[before], std::move(action));
  };
  add(attnflow::cli::add_run_command);
  add(attnflow::cli::add_info_command);
  add(attnflow::cli::add_bench_command);
  add(attnflow::cli::add_w2_command);
  add(attnflow::cli::add_analyze_command);
  add(attnflow::cli::add_sweep_command);
  add(attnflow::cli::add_stability_command);
  add(attnflow::cli::add_gaussian_command);
  add(attnflow::cli::add_equiangular_command);
  add(attnflow::cli::add_long_context_command);
  add(attnflow::cli::add_circle_command);
  add(attnflow::cli::add_circle_particles_command);
  add(attnflow::cli::add_plot_command);
  add(attnflow::cli::add_animate_command);
  add(attnflow::cli::add_reproduce_command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: command line: " << e.what() << " (see attnflow --help)\n";
    return 2;
  }
  try {
    attnflow::active_simd_width();  // a bad ATTNFLOW_SIMD fails here, before any work
    for (auto& [sub, action] : actions)
      if (sub->parsed()) return action();
    return 0;
  } catch (const attnflow::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const attnflow::NumericalError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << "\n";
    return 1;
  }
}
