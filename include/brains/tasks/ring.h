// Ring classification (brainspy-tasks §2.2–2.4): one DNPU learns to separate the inner disc
// from the outer ring of ring_data.h, trained by the genetic algorithm or gradient descent.
//   ring_classifier  one training run;
//   ring_searcher    several runs (own seeds) on one dataset, best run by test accuracy;
//   ring_capacity    a searcher per gap, with a summary table and a capacity curve.
// Each writes a run directory: config.yaml (resolved), summary.json, results.npz and PNG plots
// (each with its CSV); never pickled modules.
//
// The model is upstream's default ring model (§3.2): one DNPU node on the processor's
// `input_indices`, with a strict input transform from [-1, 1] onto the electrodes' ranges.
// Accuracy is the exact optimal threshold on the training output, applied unchanged to the
// validation and test outputs (upstream trained a perceptron and re-normalised every split
// with its own statistics, §6.15).
//
// Fixed against upstream: GA and GD both work (§6.3); the dataset and every run are seeded
// and the seeds are stored as integers (§6.12); a capacity sweep ends with a table and a
// curve (§6.21); is_hardware/hw_eval defects of default_ring do not exist here (§6.5).
//
// Example:
//   RingOptions options = RingOptions::from_config(Config::load("ring.yaml"));
//   processors::Processor processor = load_ring_processor(options);
//   RingRunResult run = ring_classifier(processor, ring_dataset(options), options);
//
// Raises: ConfigError (from_config: bad or unknown algorithm or criterion, naming the key path
//         and the valid names), ArgumentError (gap outside (0, 1), empty dataset, bad split),
//         FormatError (unreadable model or data file), Error (results cannot be written).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "brains/algorithms/genetic.h"
#include "brains/algorithms/gradient_descent.h"
#include "brains/core/config.h"
#include "brains/processors/processor.h"
#include "brains/tasks/ring_data.h"

namespace brains::tasks {

struct RingOptions {
  // --- data (ring.yaml `data`)
  TORCH_ARG(double, gap) = 0.5;
  TORCH_ARG(std::int64_t, sample_no) = 5000;
  TORCH_ARG(std::vector<double>, split_percentages) = std::vector<double>{0.6, 0.2, 0.2};
  // data.load: an .npz with `inputs` (n, 2) and `targets` (n, 1) (e.g. a results.npz of ours);
  // unset: generate.
  TORCH_ARG(std::optional<std::filesystem::path>, data_file) = std::nullopt;
  // --- model (ring.yaml `processor`)
  // The processor section, without model_dir and input_indices.
  TORCH_ARG(Config, processor);
  // The surrogate (processor.model_dir; --model overrides).
  TORCH_ARG(std::filesystem::path, model_file) = "training_data.pt";
  TORCH_ARG(std::vector<std::int64_t>, input_indices) = std::vector<std::int64_t>{0, 6};
  // --- algorithm (ring.yaml `algorithm`)
  TORCH_ARG(std::string, algorithm) = "gradient";  // "genetic" or "gradient"
  TORCH_ARG(std::string, criterion) = "fisher";
  TORCH_ARG(algorithms::GeneticOptions, genetic) = {};
  TORCH_ARG(algorithms::GradientDescentOptions, gradient) = {};
  // --- runs
  // Seeds the dataset and, through derived streams, every run.
  TORCH_ARG(std::uint64_t, seed) = 0;
  TORCH_ARG(std::int64_t, runs) = 2;
  // Split that picks the searcher's best run: "test" (as upstream and the issue ask; note this
  // selects on the test set, §6.16) or "validation".
  TORCH_ARG(std::string, select_by) = "test";
  // Capacity gaps: `gaps` when given, otherwise start_gap halved while ≥ stop_gap.
  TORCH_ARG(double, start_gap) = 0.4;
  TORCH_ARG(double, stop_gap) = 0.00825;
  TORCH_ARG(std::vector<double>, gaps) = std::vector<double>{};
  TORCH_ARG(std::filesystem::path, results_dir) = "tmp/ring";
  // The resolved config, saved as config.yaml in every run directory.
  TORCH_ARG(std::optional<Config>, config) = std::nullopt;

 public:  // TORCH_ARG leaves the section private
  // ArgumentError/ConfigError naming the bad value.
  void validate() const;
  // What a run directory's config.yaml holds: config() when set (else ring.yaml keys built
  // from these options), with data.gap and seed set to the values that actually ran.
  Config resolved_config(double gap) const;
  // The gaps ring_capacity visits (0.4, 0.2, 0.1, 0.05, 0.025, 0.0125 by default).
  std::vector<double> capacity_gaps() const;
  // brainspy-tasks ring.yaml keys (results_dir, runs, start_gap, stop_gap, data.*, accuracy.*,
  // algorithm.*, processor.*), plus seed, select_by and gaps. The algorithm comes from
  // algorithm.type (genetic/gradient, also ga/gd) or else algorithm.optimizer; the criterion
  // defaults to fisher (GD) or fisher_fit (GA). data.batch_size is the GD batch size unless
  // algorithm.batch_size is given. accuracy.* (upstream's perceptron) is accepted and unused.
  static RingOptions from_config(const Config& configs);
};

// The algorithm name for a config or flag value: genetic|ga -> "genetic", gradient|gd ->
// "gradient"; ConfigError at key_path listing the valid names otherwise.
std::string ring_algorithm_name(const std::string& name,
                                const std::string& key_path = "algorithm.type");
// brainspy-tasks' defaults/algorithms/{ga,gd}/ring.yaml as a config section.
Config default_ring_algorithm_config(const std::string& algorithm);

// Simulation processor from options.processor() and the surrogate in options.model_file().
processors::Processor load_ring_processor(const RingOptions& options);
// Generated (sample_no, gap, seed) or loaded from options.data_file().
RingDataset ring_dataset(const RingOptions& options);

struct RingSplitResult {
  double accuracy_percent = 0;  // with the training threshold
  double performance = 0;       // the criterion's value (NaN for an empty split)
  double correlation = 0;       // Pearson, output vs target
  double fisher = 0;            // (m1−m0)²/(s0+s1), always reported
  at::Tensor inputs, targets, output;
};

struct RingRunResult {
  std::string algorithm, criterion;
  std::uint64_t seed = 0;
  double gap = 0;
  double threshold = 0;  // nA; label 1 above it when positive_above
  bool positive_above = true;
  RingSplitResult train, validation, test;
  at::Tensor control_voltages;  // (1, n_ctrl) volts
  // GD: training / validation loss per epoch; GA: best / mean fitness per generation.
  std::vector<double> history, second_history;
  double seconds = 0;
  std::filesystem::path run_dir;  // empty when nothing was written
};

// One training on `splits` (no files): the searcher's unit of work.
RingRunResult train_ring(processors::Processor processor, const RingSplits& splits, double gap,
                         const RingOptions& options, std::uint64_t run_seed);

// One run with options.seed() on `data`, written to <results_dir>/ring_classification_gap_<gap>_<ts>.
RingRunResult ring_classifier(processors::Processor processor, const RingDataset& data,
                              const RingOptions& options);

struct RingSearchResult {
  double gap = 0;
  std::vector<RingRunResult> runs;
  std::size_t best = 0;
  std::filesystem::path run_dir;
};

// options.runs() runs on one dataset, best by options.select_by() accuracy (ties: criterion),
// written to <base or results_dir>/searcher_<gap>gap_<ts>.
RingSearchResult ring_searcher(processors::Processor processor, const RingDataset& data,
                               const RingOptions& options,
                               const std::optional<std::filesystem::path>& base = std::nullopt);

struct RingCapacityRow {
  double gap = 0;
  double best_train_accuracy = 0, best_test_accuracy = 0;
  double mean_test_accuracy = 0, std_test_accuracy = 0;  // over runs (std unbiased; 0 for 1 run)
  double best_test_fisher = 0;
  std::filesystem::path searcher_dir;
};

struct RingCapacityResult {
  std::vector<RingCapacityRow> rows;
  std::filesystem::path run_dir;
};

// A searcher per gap of options.capacity_gaps() (data generated per gap with options.seed()),
// inside <results_dir>/capacity_<ts>, which also gets capacity.csv, summary.json (the table),
// results.npz and capacity.png (test accuracy against gap).
RingCapacityResult ring_capacity(processors::Processor processor, const RingOptions& options);

// Plain-text tables for a terminal.
std::string ring_table(const RingSearchResult& search);
std::string ring_table(const RingCapacityResult& capacity);

}  // namespace brains::tasks
