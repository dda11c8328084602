#include "brains/algorithms/accuracy.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "brains/core/error.h"

namespace brains::algorithms {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string shape_of(const at::Tensor& x) {
  return x.defined() ? fmt::format("({})", fmt::join(x.sizes(), ", ")) : "undefined";
}

void check_binary(const char* what, const at::Tensor& target) {
  const at::Tensor bad = target.ne(0) & target.ne(1);
  if (bad.any().item<bool>())
    throw ArgumentError(fmt::format("cannot {}: the target must be binary (0 or 1), found {}", what,
                                    target.masked_select(bad)[0].item<double>()));
}

// A 1-D signal given as (n) or (n, 1), returned as (n, 1); the target must match it.
void check_single(const char* what, const at::Tensor& output, const at::Tensor& target) {
  const bool column = output.defined() &&
                      (output.dim() == 1 || (output.dim() == 2 && output.size(1) == 1));
  if (!column)
    throw ArgumentError(fmt::format("cannot {}: expected an (n) or (n, 1) output, got shape {}", what,
                                    shape_of(output)));
  if (!target.defined() || target.sizes() != output.sizes())
    throw ArgumentError(fmt::format("cannot {}: output shape {} and target shape {} differ", what,
                                    shape_of(output), shape_of(target)));
  if (output.numel() == 0) throw ArgumentError(fmt::format("cannot {}: the output is empty", what));
  if (!at::isfinite(output).all().item<bool>())
    throw ArgumentError(fmt::format("cannot {}: the output holds NaN or infinity", what));
  check_binary(what, target);
}

ThresholdAccuracy with_labels(const at::Tensor& output, const at::Tensor& target, double threshold,
                              bool positive_above) {
  ThresholdAccuracy result;
  result.threshold = threshold;
  result.positive_above = positive_above;
  result.predicted_labels = threshold_labels(output, threshold, positive_above);
  const at::Tensor correct = result.predicted_labels.eq(target.eq(1)).sum();
  result.accuracy_percent = 100.0 * correct.item<double>() / static_cast<double>(output.numel());
  return result;
}

// Threshold of each cut k = 0..n of the sorted columns (n+1, m): below the data, the
// midpoint of neighbours, above the data.
at::Tensor cut_thresholds(const at::Tensor& sorted) {
  const std::int64_t n = sorted.size(0);
  const at::Tensor edge = at::ones({1, sorted.size(1)}, sorted.options());
  const at::Tensor inner = (sorted.narrow(0, 0, n - 1) + sorted.narrow(0, 1, n - 1)) / 2;
  return at::cat({edge * -kInfinity, inner, edge * kInfinity});
}

// Gap between the neighbours of each cut (n+1, m); the outer cuts count as infinitely wide
// and a cut between equal values (gap 0) cannot be realised by a threshold.
at::Tensor cut_gaps(const at::Tensor& sorted) {
  const std::int64_t n = sorted.size(0);
  const at::Tensor edge = at::full({1, sorted.size(1)}, kInfinity, sorted.options());
  return at::cat({edge, sorted.narrow(0, 1, n - 1) - sorted.narrow(0, 0, n - 1), edge});
}

}  // namespace

ColumnThresholds optimal_threshold_accuracy_columns(const at::Tensor& output,
                                                    const at::Tensor& binary_target) {
  if (!output.defined() || output.dim() != 2 || output.size(0) == 0)
    throw ArgumentError(fmt::format(
        "cannot compute threshold accuracy: expected a non-empty (n, m) output, got shape {}",
        shape_of(output)));
  if (!binary_target.defined() || binary_target.sizes() != output.sizes())
    throw ArgumentError(fmt::format(
        "cannot compute threshold accuracy: output shape {} and target shape {} differ",
        shape_of(output), shape_of(binary_target)));
  check_binary("compute threshold accuracy", binary_target);
  at::NoGradGuard no_grad;
  const std::int64_t n = output.size(0);
  const std::int64_t m = output.size(1);
  // Double precision keeps midpoints strictly between float neighbours and counts exact.
  auto [sorted, order] = output.detach().to(at::kDouble).sort(0);
  const at::Tensor positive = binary_target.eq(1).to(at::kDouble).gather(0, order);
  // Cut k labels sorted points k..n−1 positive ("above"), or 0..k−1 ("below").
  const at::Tensor positives_before =
      at::cat({at::zeros({1, m}, positive.options()), positive.cumsum(0)});
  const at::Tensor points_before = at::arange(n + 1, positive.options()).unsqueeze(1);
  const at::Tensor negatives_before = points_before - positives_before;
  const at::Tensor all_positives = positives_before.narrow(0, n, 1);
  const at::Tensor correct_above = negatives_before + (all_positives - positives_before);
  const at::Tensor correct_below = static_cast<double>(n) - correct_above;
  const at::Tensor gaps = cut_gaps(sorted);
  // Candidates in tie-break order: "above" before "below", lower cut first (argmax takes the
  // first maximum).
  const at::Tensor correct = at::cat({correct_above, correct_below});
  const at::Tensor realisable = at::cat({gaps, gaps}) > 0;
  const at::Tensor best = at::where(realisable, correct, at::full_like(correct, -1)).amax(0);
  const at::Tensor margin = at::where(realisable & correct.eq(best), at::cat({gaps, gaps}),
                                      at::full_like(correct, -1));
  const at::Tensor choice = margin.argmax(0);
  const at::Tensor cut = choice.remainder(n + 1);
  const at::Tensor finite = at::isfinite(output.detach()).all(0);
  const at::Tensor nan = at::full({m}, kNaN, positive.options());
  ColumnThresholds result;
  result.accuracy_percent = at::where(finite, 100.0 * best / static_cast<double>(n), nan);
  result.threshold =
      at::where(finite, cut_thresholds(sorted).gather(0, cut.unsqueeze(0)).squeeze(0), nan);
  result.positive_above = choice < n + 1;
  return result;
}

ThresholdAccuracy optimal_threshold_accuracy(const at::Tensor& output, const at::Tensor& binary_target) {
  check_single("compute threshold accuracy", output, binary_target);
  const ColumnThresholds best =
      optimal_threshold_accuracy_columns(output.reshape({-1, 1}), binary_target.reshape({-1, 1}));
  ThresholdAccuracy result = with_labels(output.detach(), binary_target, best.threshold.item<double>(),
                                         best.positive_above.item<bool>());
  result.accuracy_percent = best.accuracy_percent.item<double>();
  return result;
}

at::Tensor threshold_labels(const at::Tensor& output, double threshold, bool positive_above) {
  const at::Tensor x = output.detach().to(at::kDouble);
  return positive_above ? x.gt(threshold) : x.lt(threshold);
}

ThresholdAccuracy evaluate_threshold(const at::Tensor& output, const at::Tensor& binary_target,
                                     double threshold, bool positive_above) {
  if (!output.defined() || !binary_target.defined() || output.sizes() != binary_target.sizes())
    throw ArgumentError(fmt::format(
        "cannot evaluate threshold: output shape {} and target shape {} differ", shape_of(output),
        shape_of(binary_target)));
  if (output.numel() == 0) throw ArgumentError("cannot evaluate threshold: the output is empty");
  check_binary("evaluate threshold", binary_target);
  return with_labels(output, binary_target, threshold, positive_above);
}

namespace {

void check_perceptron_options(const PerceptronOptions& options) {
  if (options.epochs() < 1)
    throw ArgumentError(fmt::format("cannot train perceptron: epochs must be at least 1, got {}",
                                    options.epochs()));
  if (options.batch_size() < 1)
    throw ArgumentError(fmt::format("cannot train perceptron: batch_size must be at least 1, got {}",
                                    options.batch_size()));
  if (!(options.learning_rate() > 0))
    throw ArgumentError(fmt::format("cannot train perceptron: learning_rate must be positive, got {}",
                                    options.learning_rate()));
}

// Linear(1, 1) as torch initialises it: weight and bias uniform in ±1/sqrt(fan_in) = ±1.
std::pair<at::Tensor, at::Tensor> init_node(const c10::optional<at::Generator>& generator) {
  at::Tensor weight = at::rand({1}, generator, at::kFloat) * 2 - 1;
  at::Tensor bias = at::rand({1}, generator, at::kFloat) * 2 - 1;
  return {weight.requires_grad_(), bias.requires_grad_()};
}

// Trains on z-scored inputs (n, 1) until an epoch labels every point right; like brains-py,
// an epoch's accuracy counts each batch's predictions before its step.
void train_node(const at::Tensor& inputs, const at::Tensor& targets, at::Tensor& weight,
                at::Tensor& bias, const PerceptronOptions& options,
                const c10::optional<at::Generator>& generator) {
  at::AutoGradMode enable_grad(true);
  torch::optim::Adam adam({weight, bias}, torch::optim::AdamOptions(options.learning_rate()));
  const std::int64_t n = inputs.size(0);
  for (std::int64_t epoch = 0; epoch < options.epochs(); ++epoch) {
    const at::Tensor order = at::randperm(n, generator, at::kLong);
    std::int64_t correct = 0;
    for (std::int64_t start = 0; start < n; start += options.batch_size()) {
      const at::Tensor batch = order.narrow(0, start, std::min(options.batch_size(), n - start));
      const at::Tensor x = inputs.index_select(0, batch);
      const at::Tensor t = targets.index_select(0, batch);
      adam.zero_grad();
      const at::Tensor prediction = x * weight + bias;
      at::binary_cross_entropy_with_logits(prediction, t).backward();
      adam.step();
      correct += prediction.detach().gt(0).eq(t.eq(1)).sum().item<std::int64_t>();
    }
    if (correct == n) break;
  }
}

}  // namespace

ThresholdAccuracy perceptron_accuracy(const at::Tensor& output, const at::Tensor& binary_target,
                                      const PerceptronOptions& options) {
  check_single("train perceptron", output, binary_target);
  check_perceptron_options(options);
  const std::int64_t n = output.numel();
  if (n <= 10)
    throw ArgumentError(fmt::format(
        "cannot train perceptron: it needs more than 10 points (as brains-py), got {}", n));
  const at::Tensor x = output.detach().reshape({-1, 1}).to(at::kFloat);
  const at::Tensor t = binary_target.detach().reshape({-1, 1}).to(at::kFloat);
  const at::Tensor mean = x.mean(0);
  const at::Tensor deviation = x.std(0);
  // Compared directly: a float mean of equal values can differ from them, leaving a tiny std.
  if (x.eq(x[0][0]).all().item<bool>() || deviation.item<double>() == 0)
    throw ArgumentError("cannot train perceptron: the output is constant (zero standard deviation)");
  const at::Tensor z = (x - mean) / deviation;

  c10::optional<at::Generator> generator;
  if (options.seed()) generator = at::make_generator<at::CPUGeneratorImpl>(*options.seed());
  auto [weight, bias] = init_node(generator);
  train_node(z, t, weight, bias, options, generator);

  at::NoGradGuard no_grad;
  const double w = weight.item<double>();
  const double b = bias.item<double>();
  ThresholdAccuracy result;
  result.predicted_labels = (z * weight + bias).gt(0).reshape(output.sizes());
  result.accuracy_percent =
      100.0 * result.predicted_labels.eq(binary_target.eq(1)).sum().item<double>() /
      static_cast<double>(n);
  result.threshold = -b / w * deviation.item<double>() + mean.item<double>();
  result.positive_above = w > 0;
  return result;
}

}  // namespace brains::algorithms
