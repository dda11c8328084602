// Boolean-gate tasks (brainspy-tasks §1): find one gate, measure the VC dimension (every
// dichotomy of N points), and sweep N for the capacity. A gate is "found" when one
// threshold on the single DNPU output separates the classes (either polarity) with
// accuracy ≥ threshold; accuracy is the exact optimal 1-D threshold.
//
// Example:
//   BooleanTask task(BooleanTaskOptions::from_config(Config::load("boolean.yaml")), processor);
//   GateResult xor_gate = task.find_gate(gate_by_name("XOR"), 1.0);
//
// Raises: ConfigError (bad options, unknown algorithm or criterion), ArgumentError (gate
// labels, N out of range).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/processor.h"

namespace brains::tasks {

struct BooleanTaskOptions {
  std::string algorithm = "genetic";  // "genetic" or "gradient"
  Config algorithm_config;            // the `algorithm` section (criterion, epochs, …)
  std::vector<std::int64_t> input_indices{1, 2};
  // Data range mapped onto the input electrodes' voltage ranges (strict clipping). The
  // points lie in [-1, 1]; brainspy-tasks' [0, 1] clipped every negative coordinate to 0.
  std::pair<double, double> input_range{-1.0, 1.0};
  std::int64_t max_attempts = 5;
  double threshold_parameter = 0.5;  // VC dimension: threshold = 1 − parameter / N
  std::int64_t from_dimension = 4;
  std::int64_t to_dimension = 7;
  std::uint64_t seed = 0;

  // brainspy-tasks boolean.yaml keys (algorithm, processor.input_indices, max_attempts,
  // threshold_parameter, from_dimension, to_dimension) plus `input_range` and `seed`.
  static BooleanTaskOptions from_config(const Config& configs);
  void validate() const;
};

struct GateResult {
  std::string gate;            // labels as a string, e.g. "0110"
  bool found = false;
  double accuracy_percent = 0;  // over the N points
  double correlation = 0;       // Pearson of output and labels
  double threshold = 1.0;       // fraction the accuracy had to reach
  std::int64_t attempts = 0;
  double seconds = 0;
  at::Tensor outputs;           // (N, 1) nA of the final control voltages
  at::Tensor control_voltages;  // (1, n_ctrl) V
};

struct VcDimensionResult {
  std::int64_t dimension = 0;
  double threshold = 1.0;
  double capacity = 0;  // found / (2^N − 2)
  std::vector<GateResult> gates;
  double seconds = 0;
};

class BooleanTask {
 public:
  BooleanTask(BooleanTaskOptions options, processors::Processor processor);

  // Trains up to max_attempts times (fresh control voltages each time) until found.
  GateResult find_gate(const at::Tensor& labels, double threshold);
  // Every dichotomy of the first N points, threshold 1 − threshold_parameter / N.
  VcDimensionResult vc_dimension(std::int64_t dimension);
  // vc_dimension for N = from_dimension … to_dimension.
  std::vector<VcDimensionResult> capacity();

  const BooleanTaskOptions& options() const noexcept { return options_; }

 private:
  GateResult train_once(const at::Tensor& inputs, const at::Tensor& labels, double threshold,
                         std::uint64_t seed);

  BooleanTaskOptions options_;
  processors::Processor processor_;
};

// Run-directory writers: summary.json, results.npz and plots.
void write_gate_result(const std::filesystem::path& run_dir, const GateResult& result,
                       const std::optional<Config>& config = std::nullopt);
void write_vc_dimension_result(const std::filesystem::path& run_dir, const VcDimensionResult& result,
                               const std::optional<Config>& config = std::nullopt);
void write_capacity_result(const std::filesystem::path& run_dir,
                           const std::vector<VcDimensionResult>& results,
                           const std::optional<Config>& config = std::nullopt);

}  // namespace brains::tasks
