// What the task commands share: the task config (file or defaults), the algorithm chosen
// by --algorithm, and the processor built from the config's `processor` section and the
// surrogate given by --model (or processor.model_dir).
#pragma once

#include <optional>
#include <string>

#include "brains/core/config.h"
#include "brains/processors/processor.h"

namespace brains::cli {

struct TaskFlags {
  std::string model;      // --model FILE.pt
  std::string algorithm;  // --algorithm ga|gd (empty: the config's)
  int threads = 0;        // --threads: threads of a simulated device (0: every core)
};

// The config file, or an empty mapping; `algorithm` replaced by the defaults of --algorithm
// when that names another algorithm than the config's.
Config load_task_config(const std::string& config_file, const TaskFlags& flags);

// The processor of a task config: processor_type simulation (P = 1, S = 0) when the config
// has no `processor` section.
processors::Processor build_task_processor(const Config& configs, const TaskFlags& flags,
                                           bool average_plateaus = true);

}  // namespace brains::cli
