#include "task_setup.h"

#include <algorithm>

#include "brains/core/error.h"
#include "brains/processors/driver_factory.h"
#include "brains/processors/surrogate_file.h"

namespace brains::cli {

namespace {

// brainspy-tasks' default algorithm sections (defaults/algorithms/{ga,gd}/boolean.yaml).
const char* const kGeneticDefaults =
    "optimizer: genetic\ncriterion: corrsig_fit\nepochs: 100\npartition: [4, 22]\n";
const char* const kGradientDefaults =
    "type: gradient\noptimizer: adam\ncriterion: corrsig\nepochs: 400\nlearning_rate: 0.01\n"
    "constraint_control_voltages: regul\n";

std::string configured_algorithm(const Config& configs) {
  if (!configs.has("algorithm")) return "";
  const Config algorithm = configs.at("algorithm");
  if (algorithm.has("type")) return algorithm.get<std::string>("type");
  if (algorithm.has("optimizer"))
    return algorithm.get<std::string>("optimizer") == "genetic" ? "genetic" : "gradient";
  return "";
}

}  // namespace

Config load_task_config(const std::string& config_file, const TaskFlags& flags) {
  Config configs = config_file.empty() ? Config() : Config::load(config_file);
  std::string wanted;
  if (flags.algorithm == "ga" || flags.algorithm == "genetic") wanted = "genetic";
  else if (flags.algorithm == "gd" || flags.algorithm == "gradient") wanted = "gradient";
  else if (!flags.algorithm.empty())
    throw ArgumentError("unknown --algorithm '" + flags.algorithm + "' (valid: ga, gd)");
  const std::string current = configured_algorithm(configs);
  if (current.empty() && wanted.empty()) wanted = "genetic";
  if (!wanted.empty() && wanted != current)
    configs.set("algorithm", Config::parse(wanted == "genetic" ? kGeneticDefaults : kGradientDefaults).node());
  return configs;
}

processors::Processor build_task_processor(const Config& configs, const TaskFlags& flags,
                                           bool average_plateaus) {
  const Config processor = configs.has("processor")
                               ? configs.at("processor")
                               : Config::parse("processor_type: simulation\nwaveform: {plateau_length: 1, slope_length: 0}\n",
                                               "<default processor>");
  // Task-only keys of brainspy-tasks processor sections, not Processor settings.
  YAML::Node settings = YAML::Clone(processor.node());
  settings.remove("model_dir");
  settings.remove("input_indices");
  const auto& hardware = processors::hardware_processor_types();
  const std::string type = processor.get<std::string>("processor_type", "");
  if (std::find(hardware.begin(), hardware.end(), type) != hardware.end()) {
    // A driver-backed processor needs no surrogate; the run's seed seeds the simulated device
    // unless its driver section names one.
    const Config view(settings, processor.key_path());
    const bool driver_seed = view.has("driver") && view.at("driver").has("seed");
    if (type == "virtual" && configs.has("seed") && !driver_seed)
      settings["driver"]["seed"] = configs.get<std::uint64_t>("seed");
    if (type == "virtual" && flags.threads > 0) settings["driver"]["threads"] = flags.threads;
    return processors::Processor(Config(settings, processor.key_path()), std::nullopt, std::nullopt,
                                 average_plateaus);
  }
  std::string model = flags.model;
  if (model.empty() && processor.has("model_dir")) model = processor.get<std::string>("model_dir");
  if (model.empty())
    throw ArgumentError("no surrogate model: give --model training_data.pt (or processor.model_dir)");
  const auto surrogate = processors::SurrogateFile::load(model);
  return processors::Processor(Config(settings, processor.key_path()), surrogate.info,
                               surrogate.model_state_dict, average_plateaus);
}

}  // namespace brains::cli
