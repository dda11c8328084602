// The `brains` command line: parses, runs one subcommand, maps errors to exit codes.
// Each subcommand is a thin shell over library calls (see commands.h).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/version.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"brains: dopant network processing units — simulate, measure, model, train", "brains"};
  app.set_version_flag("--version", std::string("brains ") + BRAINS_VERSION);
  app.require_subcommand(1);
  brains::cli::CommonOptions common;
  brains::cli::register_commands(app, common);

  brains::install_interrupt_handlers();
  try {
    app.parse(argc, argv);
    return 0;  // the chosen subcommand ran in its callback
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "brains: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "brains: error: %s\n", e.what());
    return brains::exit_code_for(e);
  }
}
