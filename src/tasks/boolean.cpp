#include "brains/tasks/boolean.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>

#include "brains/algorithms/accuracy.h"
#include "brains/algorithms/algorithm.h"
#include "brains/algorithms/criteria.h"
#include "brains/algorithms/genetic.h"
#include "brains/algorithms/gradient_descent.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/modules/dnpu.h"
#include "brains/tasks/boolean_data.h"

namespace brains::tasks {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// brainspy-tasks names the algorithm by `type` (GD) or `optimizer: genetic` (GA).
std::string algorithm_name(const Config& algorithm) {
  if (algorithm.has("type")) {
    const auto type = algorithm.get<std::string>("type");
    algorithms::check_algorithm_name(type, algorithm.key_path("type"));
    return type;
  }
  if (algorithm.has("optimizer")) {
    const auto optimizer = algorithm.get<std::string>("optimizer");
    return optimizer == "genetic" ? "genetic" : "gradient";
  }
  return "genetic";
}

std::string default_criterion(const std::string& algorithm) {
  return algorithm == "genetic" ? "corrsig_fit" : "corrsig";
}

}  // namespace

BooleanTaskOptions BooleanTaskOptions::from_config(const Config& configs) {
  configs.warn_unknown_keys({"from_dimension", "to_dimension", "threshold_parameter", "max_attempts",
                             "results_dir", "gate", "threshold", "algorithm", "accuracy",
                             "processor", "input_range", "seed", "current_dimension"});
  BooleanTaskOptions options;
  if (configs.has("algorithm")) {
    options.algorithm_config = configs.at("algorithm");
    options.algorithm = algorithm_name(options.algorithm_config);
  }
  if (configs.has("processor"))
    options.input_indices =
        configs.at("processor").get<std::vector<std::int64_t>>("input_indices", options.input_indices);
  if (configs.has("input_range")) {
    const auto range = configs.get<std::vector<double>>("input_range");
    if (range.size() != 2 || !(range[0] < range[1]))
      throw ConfigError(configs.key_path("input_range"), "expected [min, max] with min < max");
    options.input_range = {range[0], range[1]};
  }
  options.max_attempts = configs.get<std::int64_t>("max_attempts", options.max_attempts);
  options.threshold_parameter = configs.get<double>("threshold_parameter", options.threshold_parameter);
  options.from_dimension = configs.get<std::int64_t>("from_dimension", options.from_dimension);
  options.to_dimension = configs.get<std::int64_t>("to_dimension", options.to_dimension);
  options.seed = configs.get<std::uint64_t>("seed", options.seed);
  options.validate();
  return options;
}

void BooleanTaskOptions::validate() const {
  algorithms::check_algorithm_name(algorithm, "algorithm.type");
  if (input_indices.size() != 2)
    throw ConfigError("processor.input_indices",
                      fmt::format("a boolean gate has 2 inputs, got {} indices", input_indices.size()));
  if (max_attempts < 1)
    throw ConfigError("max_attempts", fmt::format("expected at least 1, got {}", max_attempts));
  if (!(threshold_parameter >= 0.0 && threshold_parameter < 1.0))
    throw ConfigError("threshold_parameter", fmt::format("expected a value in [0, 1), got {}", threshold_parameter));
  if (from_dimension < 2 || to_dimension > 10 || from_dimension > to_dimension)
    throw ConfigError("from_dimension",
                      fmt::format("expected 2 <= from_dimension <= to_dimension <= 10, got {}..{}",
                                  from_dimension, to_dimension));
}

BooleanTask::BooleanTask(BooleanTaskOptions options, processors::Processor processor)
    : options_(std::move(options)), processor_(std::move(processor)) {
  options_.validate();
  // Fail on a bad criterion now, not after the first training run.
  algorithms::criterion(options_.algorithm_config.get<std::string>(
      "criterion", default_criterion(options_.algorithm)));
}

GateResult BooleanTask::train_once(const at::Tensor& inputs, const at::Tensor& labels,
                                   double threshold, std::uint64_t seed) {
  const Config& algorithm = options_.algorithm_config;
  const auto& criterion = algorithms::criterion(
      algorithm.get<std::string>("criterion", default_criterion(options_.algorithm)));
  modules::DNPU dnpu(processor_, modules::DNPUOptions({options_.input_indices}).seed(seed));
  dnpu->add_input_transform(options_.input_range, /*strict=*/true);
  const at::Tensor targets = labels.to(at::kFloat).view({-1, 1});
  if (options_.algorithm == "genetic") {
    auto genetic = algorithms::GeneticOptions::from_config(algorithm);
    genetic.seed(seed).progress(false);
    algorithms::train_genetic(*dnpu, inputs, targets, criterion, genetic);
  } else {
    auto gradient = algorithms::GradientDescentOptions::from_config(algorithm);
    gradient.seed(seed).progress(false);
    algorithms::train_gradient_descent(
        *dnpu, [&](const at::Tensor& x) { return dnpu->forward(x); }, {inputs, targets},
        std::nullopt, criterion, gradient);
  }
  GateResult result;
  result.gate = gate_label_string(labels);
  result.threshold = threshold;
  at::NoGradGuard no_grad;
  result.outputs = dnpu->forward(inputs).detach();
  result.control_voltages = dnpu->control_voltages();
  if (!at::isfinite(result.outputs).all().item<bool>()) return result;  // never "found"
  result.accuracy_percent = algorithms::optimal_threshold_accuracy(result.outputs, targets).accuracy_percent;
  result.correlation = algorithms::pearson(result.outputs, targets).item<double>();
  // Accuracy moves in steps of 100/N: compare with a little slack for rounding.
  result.found = result.accuracy_percent / 100.0 >= threshold - 1e-9;
  return result;
}

GateResult BooleanTask::find_gate(const at::Tensor& labels, double threshold) {
  if (!(threshold > 0.0 && threshold <= 1.0))
    throw ArgumentError(fmt::format("cannot find gate: threshold must be in (0, 1], got {}", threshold));
  const auto start = Clock::now();
  const at::Tensor inputs = boolean_points(labels.numel());
  GateResult result;
  for (std::int64_t attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    result = train_once(inputs, labels, threshold, options_.seed + 1000 * static_cast<std::uint64_t>(attempt));
    result.attempts = attempt;
    if (result.found) break;
  }
  result.seconds = seconds_since(start);
  return result;
}

VcDimensionResult BooleanTask::vc_dimension(std::int64_t dimension) {
  const auto start = Clock::now();
  VcDimensionResult result;
  result.dimension = dimension;
  result.threshold = 1.0 - options_.threshold_parameter / static_cast<double>(dimension);
  const at::Tensor gates = all_dichotomies(dimension);
  ProgressBar progress(fmt::format("VC dimension {}", dimension), gates.size(0));
  std::int64_t found = 0;
  for (std::int64_t i = 0; i < gates.size(0); ++i) {
    result.gates.push_back(find_gate(gates[i], result.threshold));
    found += result.gates.back().found;
    progress.set_status(fmt::format("found {}/{}", found, i + 1));
    progress.advance();
  }
  progress.finish();
  result.capacity = static_cast<double>(found) / static_cast<double>(gates.size(0));
  result.seconds = seconds_since(start);
  log::info("VC dimension {}: capacity {:.3f} ({} of {} gates) in {:.1f} s", dimension, result.capacity,
            found, gates.size(0), result.seconds);
  return result;
}

std::vector<VcDimensionResult> BooleanTask::capacity() {
  std::vector<VcDimensionResult> results;
  for (std::int64_t n = options_.from_dimension; n <= options_.to_dimension; ++n)
    results.push_back(vc_dimension(n));
  return results;
}

}  // namespace brains::tasks
