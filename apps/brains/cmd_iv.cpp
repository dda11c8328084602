// brains iv: IV curves of every activation electrode of any processor (smg/iv_curves.h).
// The config holds the processor (a `processor` section, or brainspy-smg's top-level
// processor_type / waveform / electrode_effects / driver keys) and the sweep settings.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "brains/smg/iv_curves.h"
#include "commands.h"
#include "task_setup.h"

namespace brains::cli {

namespace {

const std::vector<std::string> kProcessorKeys{"processor_type", "waveform", "electrode_effects", "driver",
                                              "model_dir"};

void run_iv(const TaskFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  if (common.config.empty()) throw ArgumentError("brains iv needs --config FILE");
  Config configs = Config::load(common.config);
  std::vector<std::string> known{"processor", "shape", "points", "input_signal", "electrodes", "voltage_ranges",
                                 "seed", "results_base_dir", "show_plots", "devices"};
  known.insert(known.end(), kProcessorKeys.begin(), kProcessorKeys.end());
  configs.warn_unknown_keys(known);
  // brainspy-smg's simple IV template keeps the processor keys at the top level.
  if (!configs.has("processor")) {
    if (!configs.has("processor_type"))
      throw ConfigError("processor_type", "no processor: give processor_type (or a processor section)");
    YAML::Node processor(YAML::NodeType::Map);
    for (const auto& key : kProcessorKeys)
      if (configs.has(key)) processor[key] = YAML::Clone(configs.node()[key]);
    configs.set("processor", processor);
  }
  std::optional<std::uint64_t> wanted = common.seed;
  if (!wanted && configs.has("seed")) wanted = configs.get<std::uint64_t>("seed");
  const std::uint64_t seed = seed_everything(wanted);
  configs.set("seed", seed);
  const auto options = smg::IvOptions::from_config(configs);
  TaskFlags task = flags;
  task.threads = common.threads;
  processors::Processor processor = build_task_processor(configs, task);

  const auto run_dir = create_run_directory(common.out, "iv_curves");
  log::FileSink sink(run_dir / "run.log");
  smg::IvResult result;
  try {
    result = smg::measure_iv_curves(*processor, options);
  } catch (...) {
    processor->close();
    throw;
  }
  processor->close();
  smg::write_iv_result(run_dir, result, configs);
  std::cout << fmt::format("IV curves on '{}' ({} points per sweep, {} {}):\n", processor->processor_type(),
                           options.points, smg::to_string(options.signal), smg::to_string(options.direction));
  for (std::size_t s = 0; s < result.electrodes.size(); ++s) {
    const at::Tensor out = result.outputs[static_cast<std::int64_t>(s)];
    std::cout << fmt::format("  electrode {}: output {:+.4g} to {:+.4g} nA\n", result.electrodes[s],
                             out.min().item<double>(), out.max().item<double>());
  }
  std::cout << fmt::format("{:.1f} s\nresults: {}\n", result.seconds, run_dir.string());
}

}  // namespace

void register_iv(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<TaskFlags>();
  auto* iv = app.add_subcommand("iv", "IV curves: sweep each activation electrode 0 → max → min → 0 V, the others at 0 V");
  iv->add_option("--model", flags->model, "surrogate model (training_data.pt) for simulation types")
      ->check(CLI::ExistingFile);
  add_common_flags(*iv, common);
  iv->callback([flags, &common] { run_iv(*flags, common); });
}

}  // namespace brains::cli
