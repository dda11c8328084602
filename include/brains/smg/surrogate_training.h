// Surrogate model training (brainspy-smg spec §1.6, §2.4): the model_structure MLP trained
// on post-processed data with MSE and Adam (betas (0.9, 0.75) by default, as brainspy-smg),
// the epoch with the lowest validation RMSE kept, and real early stopping (stop after
// `patience` epochs without an improvement larger than `min_delta`).
//
// A run writes into `<results_base_dir>/<main_folder>_<timestamp>/`:
//   training_data.pt     brainspy-smg layout (spec §4.6): info, model_state_dict (the best
//                        epoch), optimizer_state_dict, epoch, train_losses / val_losses (RMSE
//                        in nA per epoch, the whole history), min_val_loss, test_loss (the
//                        test split's RMSE, only when there is one). torch.load reads it;
//                        brains-py's Processor and brains-cpp's SurrogateFile load it.
//   training_profile.png, <SPLIT>_error.png (prediction vs truth, error histogram),
//   <SPLIT>_error_vs_output.png, each with its CSV;
//   metrics.json         per split: MSE (nA²), RMSE (nA), RMSE as % of the split's output
//                        range, R², MAE (nA), max |error| (nA), per-output RMSE;
//   config.yaml          the resolved training config, with the seed used.
//
// Raises: ConfigError (bad config values, with the key path), FormatError (unreadable data),
// Error (files that cannot be written), InterruptedError (SIGINT between minibatches: the best
// checkpoint so far is already on disk).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/neural_network_model.h"
#include "brains/smg/dataset.h"

namespace brains::smg {

struct TrainingOptions {
  std::filesystem::path results_base_dir = "results";
  std::string main_folder = "training_data";
  std::optional<std::uint64_t> seed;  // none: drawn and recorded
  processors::ModelStructure model_structure;
  std::int64_t epochs = 100;
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.75;  // brainspy-smg's value
  double eps = 1e-8;
  std::int64_t patience = 0;  // epochs without improvement before stopping; 0: never stop
  double min_delta = 0.0;     // nA: a smaller decrease of the validation RMSE is no improvement
  DataOptions data;
  bool plots = true;
  bool fused = true;  // false: LibTorch autograd (slower; same results within rounding)
  int threads = 0;    // training threads; 0: one per core
  Config configs;     // the whole training config, stored as info.training_configs

  // brainspy-smg's keys: results_base_dir, seed, model_structure.*, hyperparameters.{epochs,
  // learning_rate, betas, eps, patience, min_delta}, data.* (see DataOptions), plus plots.
  static TrainingOptions from_config(const Config& configs);
};

struct SplitMetrics {
  std::string label;  // TRAINING, VALIDATION, TEST
  std::int64_t samples = 0;
  double mse_na2 = 0;
  double rmse_na = 0;
  double output_range_na = 0;  // max − min of the split's targets, nA
  double rmse_percent_of_range = 0;
  double r2 = 0;
  double mae_na = 0;
  double max_error_na = 0;
  std::vector<double> rmse_per_output_na;
};

struct TrainingResult {
  std::filesystem::path run_dir;
  std::filesystem::path model_file;  // training_data.pt
  std::uint64_t seed = 0;
  std::int64_t best_epoch = 0;       // 0-based; the last epoch without validation
  std::int64_t epochs_run = 0;
  bool stopped_early = false;
  std::vector<double> train_rmse_na, val_rmse_na;  // per epoch
  std::vector<SplitMetrics> metrics;
  double train_seconds = 0;
  double samples_per_second = 0;  // training throughput (minibatch steps only)
  bool fused = false;
};

TrainingResult train_surrogate(const TrainingOptions& options);

// Metrics of predictions against targets, both (N, r) in the network's units; `amplification`
// (one per output) scales them to nA.
SplitMetrics split_metrics(const std::string& label, const at::Tensor& predictions,
                           const at::Tensor& targets, const std::vector<double>& amplification);

}  // namespace brains::smg
