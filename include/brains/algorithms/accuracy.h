// Accuracy of a binary classification read from one output signal by a threshold.
//
// The default is exact: optimal_threshold_accuracy sorts the outputs and scans every cut
// between distinct values, with both polarities, so the accuracy it reports is the best any
// threshold achieves: deterministic, O(n log n). perceptron_accuracy is brains-py's
// get_accuracy (spec §11.4), kept for compatibility: a Linear(1,1) trained with Adam on
// z-scored outputs, which may stop short of the optimum.
//
// Example:
//   ThresholdAccuracy a = optimal_threshold_accuracy(output, target);   // output (n) or (n, 1)
//   at::Tensor test_labels = threshold_labels(test_output, a.threshold, a.positive_above);
//
// Targets are binary: 1 is the positive class, 0 the negative one.
// Raises: ArgumentError (shapes, non-binary target, NaN or infinite output, too few points or
//         a constant output for the perceptron, bad options).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <optional>

namespace brains::algorithms {

struct ThresholdAccuracy {
  // 100 · correctly labelled / n.
  double accuracy_percent = 0.0;
  // Decision threshold in the output's units; −inf or +inf when every point gets one label.
  double threshold = 0.0;
  // Label 1 where output > threshold if true, where output < threshold if false.
  bool positive_above = true;
  // bool, the shape of the output.
  at::Tensor predicted_labels;
};

// The best threshold over all n+1 cuts of the sorted output and both polarities. Ties in
// accuracy go to the widest gap between neighbouring outputs (the threshold sits at its
// midpoint; the cuts outside the data count as infinitely wide), then to positive_above,
// then to the lower threshold.
ThresholdAccuracy optimal_threshold_accuracy(const at::Tensor& output, const at::Tensor& binary_target);

// The same for each column of (n, m) output and target, computed together (the genomes of a
// population). Each field is (m,) float64 (positive_above: bool); a column holding NaN or
// infinity gets NaN accuracy and threshold.
struct ColumnThresholds {
  at::Tensor accuracy_percent;
  at::Tensor threshold;
  at::Tensor positive_above;
};
ColumnThresholds optimal_threshold_accuracy_columns(const at::Tensor& output,
                                                    const at::Tensor& binary_target);

// Labels (bool, the output's shape) and accuracy of a given threshold: to score a validation
// or test set with the threshold found on the training set.
at::Tensor threshold_labels(const at::Tensor& output, double threshold, bool positive_above);
ThresholdAccuracy evaluate_threshold(const at::Tensor& output, const at::Tensor& binary_target,
                                     double threshold, bool positive_above);

// brains-py's perceptron (get_default_node_configs).
//
// Example:
//   perceptron_accuracy(output, target, PerceptronOptions().epochs(500).seed(1));
struct PerceptronOptions {
  // Passes over the data; training stops early at 100 % (as brains-py).
  TORCH_ARG(std::int64_t, epochs) = 100;
  TORCH_ARG(double, learning_rate) = 1e-3;
  // Points per Adam step; the data are shuffled each epoch.
  TORCH_ARG(std::int64_t, batch_size) = 256;
  // Seeds the weight initialisation and the shuffling; torch's generator when unset.
  TORCH_ARG(std::optional<std::uint64_t>, seed) = std::nullopt;
};

// z-scores the output (unbiased std), trains Linear(1,1) with Adam and BCE-with-logits, and
// reads the threshold back in output units: −b/w · std + mean. Needs more than 10 points
// (as brains-py) and a non-constant output. Works under a NoGradGuard too.
ThresholdAccuracy perceptron_accuracy(const at::Tensor& output, const at::Tensor& binary_target,
                                      const PerceptronOptions& options = {});

}  // namespace brains::algorithms
