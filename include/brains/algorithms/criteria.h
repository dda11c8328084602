// Criteria: the losses (gradient descent) and fitness functions (genetic algorithm) of
// brains-py's signal.py (spec §11.3), and the by-name registry of get_criterion (§11.5).
//
// Every function takes (n, m) tensors: m columns (signals, or the genomes of a population)
// of n points each, and returns one value per column, shape (m,); bce alone returns the
// scalar mean. Columns are computed together, without a per-column loop. Targets are binary
// (1 = high class, 0 = low class); any other value belongs to neither class.
//
// Example:
//   at::Tensor loss = corrsig(output, target).mean();         // GD, differentiable
//   const Criterion& c = criterion("fisher_fit");              // GA, by config name
//   at::Tensor fitness = c.fn(outputs_of_genomes, target.expand_as(outputs_of_genomes));
//
// Upstream defects fixed here (spec §15.15, 15.17, 15.22, 15.36, 15.37):
// - fisher_fit is +J = (m1−m0)²/(s0+s1), higher is better (upstream returns the loss −J);
// - fitness functions never return NaN: a NaN column gets the criterion's default value, so
//   a broken genome cannot rank best;
// - accuracy_fit uses the exact optimal threshold (accuracy.h), not a perceptron per column;
// - sigmoid_nn_distance needs no target; an unknown clamped-interval mode is an error;
// - constant columns give NaN quietly (no warning per call).
//
// Raises: ArgumentError (tensors not 2-D or not floating point, shapes differ, unknown
//         clamped-interval mode, boundaries reversed), ConfigError (unknown criterion name).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace brains::algorithms {

// Clamp range of get_clamped_intervals and sigmoid_nn_distance: {low, high}.
using Boundaries = std::pair<double, double>;

// --- measures

// Pearson correlation per column (equals numpy.corrcoef); NaN where x or y is constant.
at::Tensor pearson(const at::Tensor& x, const at::Tensor& y);

// Sorted, clamped nearest-neighbour distances per column. With s the sorted output clamped
// to the boundaries, dist = [s; high] − [low; s] of shape (n+1, m), and mode is
//   "single_nn": min(dist[1:], dist[:-1]), (n, m), each point's distance to its nearer neighbour;
//   "double_nn": dist, (n+1, m), the gaps themselves;
//   "intervals": dist[1:] + dist[:-1], (n, m), the gap below plus the gap above each point.
// Example: [3,1,8,9,5] on {1, 9} gives single [0,2,2,1,0], double [0,2,2,3,1,0],
// intervals [2,4,5,4,1].
at::Tensor get_clamped_intervals(const at::Tensor& output, const std::string& mode,
                                 Boundaries boundaries = {0.0, 1.0});

// --- losses for gradient descent (lower is better, differentiable)

// (corr_shift − corr) / σ((δ − sigmoid_center) / sigmoid_scale), with
// δ = min(output | target=1) − max(output | target=0): the gap between the classes.
// A column missing a class gives NaN.
at::Tensor corrsig(const at::Tensor& output, const at::Tensor& target, double sigmoid_center = 0.0,
                   double sigmoid_scale = 1.0, double corr_shift = 1.1);

// −(m1 − m0)² / (s0 + s1): class means m and unbiased variances s of the target=1 and
// target=0 points (the negative Fisher discriminant). NaN for a constant column.
at::Tensor fisher(const at::Tensor& output, const at::Tensor& target);

// −mean(σ(d / sigmoid_scale) − sigmoid_center) with d = get_clamped_intervals(output,
// "single_nn", boundaries): rewards outputs spread over the boundaries (VC dimension).
// The boundaries default to brains-py's {0, 1}; give the output's own units (e.g. nA).
at::Tensor sigmoid_nn_distance(const at::Tensor& output, double sigmoid_center = 0.5,
                               double sigmoid_scale = 2.0, Boundaries boundaries = {0.0, 1.0});

// Binary cross entropy with logits, mean over all elements (a 0-d tensor).
at::Tensor bce(const at::Tensor& output, const at::Tensor& target);

// --- fitness functions for the genetic algorithm (higher is better, never NaN)

// Pearson correlation; −1 where it is NaN.
at::Tensor corr_fit(const at::Tensor& output, const at::Tensor& target);

// Accuracy in percent (0–100) of the best 1-D threshold per column (optimal_threshold_accuracy);
// 0 for a column holding NaN or infinity. Not differentiable.
at::Tensor accuracy_fit(const at::Tensor& output, const at::Tensor& target);

// corr · σ(sigmoid_scale · (sep − sigmoid_center)), sep = mean(output | target=1) −
// mean(output | target=0); −1 where it is NaN (constant output, a class missing).
at::Tensor corrsig_fit(const at::Tensor& output, const at::Tensor& target,
                       double sigmoid_center = 0.0, double sigmoid_scale = 1.0);

// (m1 − m0)² / (s0 + s1) = −fisher, the Fisher discriminant itself; 0 where it is NaN.
// Two classes with zero spread and different means give +inf (perfect separation).
at::Tensor fisher_fit(const at::Tensor& output, const at::Tensor& target);

// --- registry (brains-py's get_criterion)

struct Criterion {
  std::string name;
  // Fitness functions (…_fit) are maximised; losses are minimised.
  bool higher_is_better;
  // Gradients flow through fn, so gradient descent can train on it (a fitness function
  // would be maximised, i.e. its negation minimised).
  bool differentiable;
  // (n, m) output and target -> (m,) values (bce: a 0-d mean), with default parameters.
  std::function<at::Tensor(const at::Tensor& output, const at::Tensor& target)> fn;
  // The worst value: what the GA gives a genome whose output is clipped or constant
  // (brains-py's default_value=True): −1 for corr_fit and corrsig_fit, 0 for accuracy_fit
  // and fisher_fit, +inf for a loss.
  double default_value;
};

// The criterion of that name; ConfigError at "algorithm.criterion" listing the valid names.
const Criterion& criterion(const std::string& name);
// accuracy_fit, bce, corr_fit, corrsig, corrsig_fit, fisher, fisher_fit, sigmoid_nn_distance.
std::vector<std::string> criterion_names();

}  // namespace brains::algorithms
