// brains ring: ring classification (classifier, searcher or capacity sweep) on a surrogate.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/tasks/ring.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct RingFlags {
  std::string mode = "classifier";
  std::string algorithm;
  std::string model;
  std::optional<double> gap;
  std::optional<std::int64_t> runs;
  std::optional<std::int64_t> epochs;
  bool out_given = false;
};

// brainspy-tasks configs/ring.yaml with the GD defaults, for runs without --config.
Config default_ring_config() {
  return Config::parse(R"(results_dir: results
runs: 2
start_gap: 0.4
stop_gap: 0.00825
data:
  gap: 0.5
  load: false
  sample_no: 5000
  split_percentages: [0.6, 0.2, 0.2]
  batch_size: 512
processor:
  processor_type: simulation
  input_indices: [0, 6]
  waveform:
    plateau_length: 1
    slope_length: 0
)",
                       "<default ring config>");
}

// The flags, written into the config so that config.yaml records what actually ran.
Config apply_flags(const RingFlags& flags, const CommonOptions& common) {
  if (common.config.empty() && flags.model.empty())
    throw ArgumentError("cannot run the ring task: give --model FILE.pt (or --config with processor.model_dir)");
  const Config configs = common.config.empty() ? default_ring_config() : Config::load(common.config);
  YAML::Node root = configs.node();  // shares the tree
  const YAML::Node& view = root;      // reads through const: no empty entries created
  if (flags.gap) root["data"]["gap"] = *flags.gap;
  if (!flags.model.empty()) root["processor"]["model_dir"] = flags.model;
  if (common.seed) root["seed"] = *common.seed;
  if (flags.out_given || !view["results_dir"]) root["results_dir"] = common.out;
  if (flags.runs) root["runs"] = *flags.runs;
  if (!flags.algorithm.empty()) {
    const std::string wanted = tasks::ring_algorithm_name(flags.algorithm, "--algorithm");
    const bool has_type = view["algorithm"] && view["algorithm"]["type"];
    if (!has_type ||
        tasks::ring_algorithm_name(view["algorithm"]["type"].as<std::string>()) != wanted) {
      // Another algorithm needs its own settings (criterion, epochs): take its defaults.
      root["algorithm"] = YAML::Clone(tasks::default_ring_algorithm_config(wanted).node());
      log::info("--algorithm {}: using the brainspy-tasks default {} settings", flags.algorithm, wanted);
    }
  }
  if (flags.epochs) root["algorithm"]["epochs"] = *flags.epochs;
  return configs;
}

void run_ring(const RingFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  const auto options = tasks::RingOptions::from_config(apply_flags(flags, common));
  const auto processor = tasks::load_ring_processor(options);
  std::string table;
  if (flags.mode == "classifier") {
    tasks::RingSearchResult one;  // a table of one run
    one.gap = options.gap();
    one.runs.push_back(tasks::ring_classifier(processor, tasks::ring_dataset(options), options));
    one.run_dir = one.runs.front().run_dir;
    table = tasks::ring_table(one);
  } else if (flags.mode == "searcher") {
    table = tasks::ring_table(tasks::ring_searcher(processor, tasks::ring_dataset(options), options));
  } else {
    table = tasks::ring_table(tasks::ring_capacity(processor, options));
  }
  std::fputs(table.c_str(), stdout);
}

}  // namespace

void register_ring(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<RingFlags>();
  auto* command = app.add_subcommand(
      "ring", "Ring classification on a surrogate: one run, a search over runs, or a capacity sweep");
  command->add_option("--mode", flags->mode, "classifier (one run), searcher (best of runs) or capacity (sweep of gaps)")
      ->check(CLI::IsMember({"classifier", "searcher", "capacity"}))
      ->capture_default_str();
  command->add_option("--algorithm", flags->algorithm, "ga|gd (also genetic|gradient); default: the config's")
      ->check(CLI::IsMember({"ga", "gd", "genetic", "gradient"}));
  command->add_option("--model", flags->model, "surrogate model (training_data.pt); overrides processor.model_dir")
      ->check(CLI::ExistingFile);
  command->add_option("--gap", flags->gap, "radial gap between the classes, 0 < gap < 1 (data.gap)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            try {
              const double gap = std::stod(text);
              return gap > 0 && gap < 1 ? "" : "gap must lie strictly between 0 and 1, got " + text;
            } catch (const std::exception&) {
              return "expected a number, got '" + text + "'";
            }
          },
          "(0, 1)"));
  command->add_option("--runs", flags->runs, "runs per search (runs)")->check(CLI::PositiveNumber);
  command->add_option("--epochs", flags->epochs, "epochs or generations (algorithm.epochs)")
      ->check(CLI::PositiveNumber);
  add_common_flags(*command, common);
  command->callback([flags, command, &common] {
    flags->out_given = command->count("--out") > 0;
    run_ring(*flags, common);
  });
}

}  // namespace brains::cli
