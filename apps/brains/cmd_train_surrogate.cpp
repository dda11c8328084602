// brains train-surrogate: trains the surrogate network on postprocessed data.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/smg/surrogate_training.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct TrainFlags {
  std::optional<std::int64_t> epochs;
  std::vector<std::string> data;
  bool out_given = false;
};

void run_train(const TrainFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  if (common.config.empty())
    throw ArgumentError("cannot train a surrogate: give --config FILE (see examples/configs/smg_training.yaml)");
  const Config configs = Config::load(common.config);
  YAML::Node root = configs.node();  // shares the tree: the flags become part of the config
  const YAML::Node& view = root;
  if (flags.out_given || !view["results_base_dir"]) root["results_base_dir"] = common.out;
  if (common.seed) root["seed"] = *common.seed;
  if (flags.epochs) root["hyperparameters"]["epochs"] = *flags.epochs;
  if (!flags.data.empty()) {
    YAML::Node paths(YAML::NodeType::Sequence);
    for (const auto& path : flags.data) paths.push_back(path);
    root["data"]["dataset_paths"] = paths;
  }
  smg::TrainingOptions options = smg::TrainingOptions::from_config(configs);
  options.threads = common.threads;
  const smg::TrainingResult result = smg::train_surrogate(options);
  std::cout << fmt::format("{:<10} {:>9} {:>11} {:>9} {:>8} {:>10} {:>12}\n", "split", "samples", "RMSE (nA)",
                           "% range", "R²", "MAE (nA)", "max err (nA)");
  for (const auto& m : result.metrics)
    std::cout << fmt::format("{:<10} {:>9} {:>11.5g} {:>9.3g} {:>8.5f} {:>10.4g} {:>12.4g}\n", m.label, m.samples,
                             m.rmse_na, m.rmse_percent_of_range, m.r2, m.mae_na, m.max_error_na);
  std::cout << fmt::format("{} epochs{} (best {}), {:.0f} samples/s, seed {}\nmodel: {}\n", result.epochs_run,
                           result.stopped_early ? ", stopped early" : "", result.best_epoch,
                           result.samples_per_second, result.seed, result.model_file.string());
}

}  // namespace

void register_train_surrogate(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<TrainFlags>();
  auto* command = app.add_subcommand("train-surrogate",
                                     "Train the surrogate network on postprocessed data (writes training_data.pt)");
  command->add_option("--epochs", flags->epochs, "hyperparameters.epochs")->check(CLI::PositiveNumber);
  command->add_option("--data", flags->data, "data.dataset_paths: training [validation [test]] npz files")
      ->check(CLI::ExistingFile);
  add_common_flags(*command, common);
  command->callback([flags, command, &common] {
    flags->out_given = command->count("--out") > 0;
    run_train(*flags, common);
  });
}

}  // namespace brains::cli
