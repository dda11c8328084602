#include <ATen/Parallel.h>

#include "brains/core/log.h"
#include "commands.h"

namespace brains::cli {

void add_common_flags(CLI::App& command, CommonOptions& options) {
  command.add_option("--config", options.config, "YAML configuration file")->check(CLI::ExistingFile);
  command.add_option("--out", options.out, "folder for run directories")->capture_default_str();
  command.add_option("--seed", options.seed, "random seed (recorded in the run)");
  command.add_option("--threads", options.threads, "worker threads (0: automatic)")
      ->check(CLI::Range(0, 1024));
  command.add_flag("--quiet,-q", options.quiet, "warnings and errors only; no progress bars");
}

void apply_common_flags(const CommonOptions& options) {
  log::set_quiet(options.quiet);
  if (options.threads > 0) at::set_num_threads(options.threads);
}

}  // namespace brains::cli
