// What a finished GA or GD run leaves in its run directory (DESIGN.md: config, log, results
// and plots; never pickled modules):
//   config.yaml    the resolved config, when given
//   summary.json   algorithm, criterion, seed, best values, timing and the files written
//   results.npz    histories and outputs (numpy reads them with np.load)
//   <name>.png     plots through gnuplot, each with its data as <name>.csv
//
// Example:
//   const auto dir = create_run_directory(results_dir, "boolean");
//   write_run_outputs(dir, genetic_run_outputs(result, configs));
//
// Raises: Error (a file cannot be written; gnuplot failing), ArgumentError (bad plot data).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brains/algorithms/genetic.h"
#include "brains/algorithms/gradient_descent.h"
#include "brains/core/config.h"
#include "brains/io/plot.h"

namespace brains::algorithms {

struct RunOutputs {
  std::string algorithm;                                   // "genetic", "gradient", …
  std::optional<Config> config;                            // -> config.yaml
  std::vector<std::pair<std::string, double>> numbers;     // -> summary.json (NaN/inf: null)
  std::vector<std::pair<std::string, std::string>> texts;  // -> summary.json
  std::vector<std::pair<std::string, at::Tensor>> arrays;  // -> results.npz
  // -> <name>.png: one panel, or several stacked in one image.
  std::vector<std::pair<std::string, std::vector<io::PlotSpec>>> plots;
};

// Writes everything into `run_dir` (which must exist; see create_run_directory).
void write_run_outputs(const std::filesystem::path& run_dir, const RunOutputs& outputs);

// Summary, histories (fitness, correlation, mean fitness, genomes), best genome and output,
// targets; plots fitness_history.png and output_vs_target.png.
RunOutputs genetic_run_outputs(const GeneticResult& result,
                               const std::optional<Config>& config = std::nullopt);
// Summary, losses, regularizer and learning-rate histories, output and targets; plots
// loss_history.png and output_vs_target.png.
RunOutputs gradient_run_outputs(const GradientDescentResult& result,
                                const std::optional<Config>& config = std::nullopt);

}  // namespace brains::algorithms
