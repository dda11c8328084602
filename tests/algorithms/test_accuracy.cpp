// Accuracy: the exact optimal threshold against a brute-force scan, its tie-breaking and
// polarity, the batched column version, and brains-py's perceptron.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "brains/algorithms/accuracy.h"
#include "brains/core/error.h"

namespace brains::algorithms {
namespace {

using ::testing::HasSubstr;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

at::Generator generator(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor floats(std::vector<float> values) { return at::tensor(values, at::kFloat); }

struct Cut {
  double accuracy_percent;
  double threshold;
  bool positive_above;
};

// Every threshold that separates distinct values (and the two outside the data), both
// polarities, each scored by labelling every point: O(n²). Ties go to the widest gap, then
// "above", then the lower threshold.
Cut brute_force(const at::Tensor& output, const at::Tensor& target) {
  const auto n = output.numel();
  std::vector<double> x(n), values;
  std::vector<bool> positive(n);
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = output[i].item<double>();
    positive[i] = target[i].item<double>() == 1;
  }
  values = x;
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::vector<std::pair<double, double>> candidates = {{-kInfinity, kInfinity}};  // threshold, gap
  for (std::size_t i = 0; i + 1 < values.size(); ++i)
    candidates.push_back({(values[i] + values[i + 1]) / 2, values[i + 1] - values[i]});
  candidates.push_back({kInfinity, kInfinity});
  Cut best{-1, 0, true};
  double best_gap = -1;
  for (const bool above : {true, false})
    for (const auto& [threshold, gap] : candidates) {
      std::int64_t correct = 0;
      for (std::int64_t i = 0; i < n; ++i)
        correct += ((above ? x[i] > threshold : x[i] < threshold) == positive[i]);
      const double accuracy = 100.0 * correct / n;
      if (accuracy > best.accuracy_percent || (accuracy == best.accuracy_percent && gap > best_gap)) {
        best = {accuracy, threshold, above};
        best_gap = gap;
      }
    }
  return best;
}

TEST(OptimalThreshold, MatchesBruteForceOnRandomData) {
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto g = generator(seed);
    const std::int64_t n = 1 + at::randint(60, {1}, g).item<std::int64_t>();
    at::Tensor output = at::randn({n}, g, at::kFloat);
    if (seed % 2) output = (output * 2).round();  // many tied values
    const at::Tensor target = at::rand({n}, g, at::kFloat).lt(seed % 3 == 0 ? 0.2 : 0.5).to(at::kFloat);
    const ThresholdAccuracy found = optimal_threshold_accuracy(output, target);
    const Cut expected = brute_force(output, target);
    EXPECT_EQ(found.accuracy_percent, expected.accuracy_percent);
    EXPECT_EQ(found.threshold, expected.threshold);
    EXPECT_EQ(found.positive_above, expected.positive_above);
    // The labels agree with the reported accuracy.
    const double labelled = 100.0 * found.predicted_labels.eq(target.eq(1)).sum().item<double>() / n;
    EXPECT_EQ(labelled, found.accuracy_percent);
  }
}

TEST(OptimalThreshold, SeparableDataGiveFullAccuracyBetweenTheClasses) {
  auto g = generator(1);
  const at::Tensor low = at::rand({30}, g) - 1.5;   // in [−1.5, −0.5)
  const at::Tensor high = at::rand({20}, g) + 0.5;  // in [0.5, 1.5)
  const at::Tensor output = at::cat({high, low});
  const at::Tensor target = at::cat({at::ones({20}), at::zeros({30})});
  const ThresholdAccuracy a = optimal_threshold_accuracy(output, target);
  EXPECT_EQ(a.accuracy_percent, 100.0);
  EXPECT_TRUE(a.positive_above);
  EXPECT_GT(a.threshold, low.max().item<double>());
  EXPECT_LT(a.threshold, high.min().item<double>());
  EXPECT_DOUBLE_EQ(a.threshold, (low.max().item<double>() + high.min().item<double>()) / 2);
  EXPECT_TRUE(at::equal(a.predicted_labels, target.to(at::kBool)));

  // Class 1 below class 0: the inverted polarity is found.
  const ThresholdAccuracy inverted = optimal_threshold_accuracy(output, 1 - target);
  EXPECT_EQ(inverted.accuracy_percent, 100.0);
  EXPECT_FALSE(inverted.positive_above);
  EXPECT_DOUBLE_EQ(inverted.threshold, a.threshold);
  EXPECT_TRUE(at::equal(inverted.predicted_labels, target.eq(0)));
}

TEST(OptimalThreshold, TiesGoToTheWidestGapDeterministically) {
  // 75 % either at 0.5 (gap 1) or at 6 (gap 8): the wider gap wins.
  const at::Tensor output = floats({0, 1, 2, 10});
  const at::Tensor target = floats({0, 1, 0, 1});
  const ThresholdAccuracy a = optimal_threshold_accuracy(output, target);
  EXPECT_EQ(a.accuracy_percent, 75.0);
  EXPECT_EQ(a.threshold, 6.0);
  EXPECT_TRUE(a.positive_above);
  // Independent of the order of the points and of repetition.
  const at::Tensor order = at::tensor({3, 1, 0, 2}, at::kLong);
  const ThresholdAccuracy shuffled =
      optimal_threshold_accuracy(output.index_select(0, order), target.index_select(0, order));
  EXPECT_EQ(shuffled.threshold, 6.0);
  EXPECT_TRUE(shuffled.positive_above);
  EXPECT_EQ(optimal_threshold_accuracy(output, target).threshold, 6.0);
  // Equal gaps: "above" first, then the lower threshold.
  const ThresholdAccuracy even = optimal_threshold_accuracy(floats({0, 1, 2, 3}), floats({0, 1, 0, 1}));
  EXPECT_EQ(even.accuracy_percent, 75.0);
  EXPECT_TRUE(even.positive_above);
  EXPECT_EQ(even.threshold, 0.5);
}

TEST(OptimalThreshold, OneClassLabelsEverythingAlike) {
  const at::Tensor output = floats({0.3f, -1, 2});
  const ThresholdAccuracy negatives = optimal_threshold_accuracy(output, at::zeros({3}));
  EXPECT_EQ(negatives.accuracy_percent, 100.0);
  EXPECT_EQ(negatives.threshold, kInfinity);
  EXPECT_TRUE(negatives.positive_above);
  EXPECT_FALSE(negatives.predicted_labels.any().item<bool>());
  const ThresholdAccuracy positives = optimal_threshold_accuracy(output, at::ones({3}));
  EXPECT_EQ(positives.threshold, -kInfinity);
  EXPECT_TRUE(positives.predicted_labels.all().item<bool>());
  // Tied outputs cannot be split: a constant output scores the majority class.
  EXPECT_EQ(optimal_threshold_accuracy(at::full({4}, 0.5), floats({1, 0, 1, 1})).accuracy_percent, 75.0);
}

TEST(OptimalThreshold, AcceptsColumnShapeAndKeepsIt) {
  const at::Tensor output = floats({0.1f, 0.9f, 0.2f, 0.8f}).unsqueeze(1);
  const at::Tensor target = floats({0, 1, 0, 1}).unsqueeze(1);
  const ThresholdAccuracy a = optimal_threshold_accuracy(output, target);
  EXPECT_EQ(a.accuracy_percent, 100.0);
  EXPECT_EQ(a.predicted_labels.sizes(), output.sizes());
  EXPECT_EQ(a.predicted_labels.scalar_type(), at::kBool);
}

TEST(OptimalThreshold, ColumnsMatchTheSingleVersion) {
  auto g = generator(21);
  at::Tensor output = (at::randn({35, 8}, g) * 3).round();
  const at::Tensor target = at::rand({35, 8}, g).gt(0.4).to(at::kFloat);
  output[4][6] = std::numeric_limits<float>::quiet_NaN();
  const ColumnThresholds all = optimal_threshold_accuracy_columns(output, target);
  ASSERT_EQ(all.accuracy_percent.sizes(), (std::vector<std::int64_t>{8}));
  for (std::int64_t c = 0; c < 8; ++c) {
    SCOPED_TRACE("column " + std::to_string(c));
    if (c == 6) {
      EXPECT_TRUE(std::isnan(all.accuracy_percent[c].item<double>()));
      EXPECT_TRUE(std::isnan(all.threshold[c].item<double>()));
      continue;
    }
    const ThresholdAccuracy one = optimal_threshold_accuracy(output.select(1, c), target.select(1, c));
    EXPECT_EQ(all.accuracy_percent[c].item<double>(), one.accuracy_percent);
    EXPECT_EQ(all.threshold[c].item<double>(), one.threshold);
    EXPECT_EQ(all.positive_above[c].item<bool>(), one.positive_above);
  }
}

TEST(OptimalThreshold, EvaluatesAGivenThresholdOnOtherData) {
  const ThresholdAccuracy test = evaluate_threshold(floats({-1, 0.4f, 0.6f, 2}), floats({0, 1, 1, 1}), 0.5, true);
  EXPECT_EQ(test.accuracy_percent, 75.0);
  EXPECT_TRUE(at::equal(test.predicted_labels, floats({0, 0, 1, 1}).to(at::kBool)));
  EXPECT_TRUE(at::equal(threshold_labels(floats({-1, 2}), 0.5, false), floats({1, 0}).to(at::kBool)));
}

TEST(OptimalThreshold, RejectsBadInput) {
  try {
    optimal_threshold_accuracy(floats({0, 1, 2}), floats({0, 0.5f, 1}));
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("binary"));
    EXPECT_THAT(e.what(), HasSubstr("0.5"));
  }
  EXPECT_THROW(optimal_threshold_accuracy(floats({0, NAN, 2}), floats({0, 1, 1})), ArgumentError);
  EXPECT_THROW(optimal_threshold_accuracy(floats({0, 1}), floats({0, 1, 1})), ArgumentError);
  EXPECT_THROW(optimal_threshold_accuracy(at::zeros({3, 2}), at::zeros({3, 2})), ArgumentError);
  EXPECT_THROW(optimal_threshold_accuracy(floats({}), floats({})), ArgumentError);
  EXPECT_THROW(optimal_threshold_accuracy_columns(at::zeros({3, 2}), at::zeros({3, 1})), ArgumentError);
}

// Two well-separated classes, shuffled.
std::pair<at::Tensor, at::Tensor> separable(std::uint64_t seed, std::int64_t n) {
  auto g = generator(seed);
  const at::Tensor target = (at::arange(n) % 2).to(at::kFloat);
  const at::Tensor output = target * 2 + at::rand({n}, g) * 0.8 - 1.3;  // classes 1.2 apart
  const at::Tensor order = at::randperm(n, g, at::kLong);
  return {output.index_select(0, order), target.index_select(0, order)};
}

TEST(Perceptron, ReachesFullAccuracyOnSeparableDataAndAgreesWithTheOptimum) {
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto [output, target] = separable(seed, 60);
    const at::Tensor low_max = output.masked_select(target.eq(0)).max();
    const at::Tensor high_min = output.masked_select(target.eq(1)).min();
    for (const bool inverted : {false, true}) {
      const at::Tensor t = inverted ? 1 - target : target;
      const ThresholdAccuracy p =
          perceptron_accuracy(output, t, PerceptronOptions().epochs(2000).learning_rate(0.01).seed(seed));
      const ThresholdAccuracy best = optimal_threshold_accuracy(output, t);
      EXPECT_EQ(p.accuracy_percent, 100.0);
      EXPECT_EQ(best.accuracy_percent, 100.0);
      EXPECT_EQ(p.positive_above, !inverted);
      EXPECT_EQ(p.positive_above, best.positive_above);
      EXPECT_GT(p.threshold, low_max.item<double>());
      EXPECT_LT(p.threshold, high_min.item<double>());
      EXPECT_TRUE(at::equal(p.predicted_labels, best.predicted_labels));
    }
  }
}

TEST(Perceptron, IsDeterministicWithASeedAndWorksWithoutGrad) {
  auto g = generator(8);
  const at::Tensor output = at::randn({40}, g);
  const at::Tensor target = at::rand({40}, g).gt(0.5).to(at::kFloat);
  const ThresholdAccuracy a = perceptron_accuracy(output, target, PerceptronOptions().seed(3));
  at::NoGradGuard no_grad;  // as inside the genetic algorithm
  const ThresholdAccuracy b = perceptron_accuracy(output, target, PerceptronOptions().seed(3));
  EXPECT_EQ(a.accuracy_percent, b.accuracy_percent);
  EXPECT_EQ(a.threshold, b.threshold);
  EXPECT_TRUE(at::equal(a.predicted_labels, b.predicted_labels));
  // Never better than the optimum.
  EXPECT_LE(a.accuracy_percent, optimal_threshold_accuracy(output, target).accuracy_percent);
}

TEST(Perceptron, NeedsMoreThanTenPointsAndAVaryingOutput) {
  const at::Tensor ten = at::linspace(0, 1, 10);
  try {
    perceptron_accuracy(ten, ten.gt(0.5).to(at::kFloat));
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("more than 10 points"));
    EXPECT_THAT(e.what(), HasSubstr("got 10"));
  }
  const at::Tensor eleven = at::linspace(0, 1, 11);
  EXPECT_NO_THROW(perceptron_accuracy(eleven, eleven.gt(0.5).to(at::kFloat), PerceptronOptions().seed(1)));
  EXPECT_THROW(perceptron_accuracy(at::full({12}, 0.3), eleven.gt(0.5).to(at::kFloat).narrow(0, 0, 11)),
               ArgumentError);
  EXPECT_THROW(perceptron_accuracy(at::full({12}, 0.3), (at::arange(12) % 2).to(at::kFloat)), ArgumentError);
  EXPECT_THROW(perceptron_accuracy(eleven, eleven.gt(0.5).to(at::kFloat), PerceptronOptions().epochs(0)),
               ArgumentError);
}

}  // namespace
}  // namespace brains::algorithms
