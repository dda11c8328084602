#include "brains/algorithms/criteria.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>

#include "brains/algorithms/accuracy.h"
#include "brains/core/error.h"
#include "corrsig_kernel.h"

namespace brains::algorithms {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string shape_of(const at::Tensor& x) { return fmt::format("({})", fmt::join(x.sizes(), ", ")); }

void check_signals(const char* what, const at::Tensor& output) {
  if (!output.defined() || output.dim() != 2)
    throw ArgumentError(fmt::format(
        "cannot compute {}: expected an (n, m) tensor of m signals, got shape {}", what,
        output.defined() ? shape_of(output) : "undefined"));
  if (!at::isFloatingType(output.scalar_type()))
    throw ArgumentError(fmt::format("cannot compute {}: expected a floating-point output, got {}",
                                    what, c10::toString(output.scalar_type())));
}

// The target in the output's dtype, after checking both are (n, m) of the same shape.
at::Tensor checked_target(const char* what, const at::Tensor& output, const at::Tensor& target) {
  check_signals(what, output);
  if (!target.defined() || target.sizes() != output.sizes())
    throw ArgumentError(fmt::format("cannot compute {}: output shape {} and target shape {} differ",
                                    what, shape_of(output),
                                    target.defined() ? shape_of(target) : "undefined"));
  return target.to(output.scalar_type());
}

at::Tensor nan_to(const at::Tensor& values, double fallback) {
  return at::where(at::isnan(values), at::full_like(values, fallback), values);
}

// Columns whose values are all equal; their mean in float can differ from the value itself,
// so a correlation computed on them would be noise rather than NaN.
at::Tensor constant_columns(const at::Tensor& x) {
  if (x.size(0) == 0) return at::ones({x.size(1)}, x.options().dtype(at::kBool));
  return (x == x.narrow(0, 0, 1)).all(0);
}

at::Tensor pearson_unchecked(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor vx = x - x.mean(0);
  const at::Tensor vy = y - y.mean(0);
  const at::Tensor r = (vx * vy).sum(0) / ((vx * vx).sum(0).sqrt() * (vy * vy).sum(0).sqrt());
  const at::Tensor constant = constant_columns(x.detach()) | constant_columns(y.detach());
  return at::where(constant, at::full_like(r, kNaN), r);
}

// Mean of `output` over the points where `mask` holds, per column (NaN where none does).
at::Tensor masked_mean(const at::Tensor& output, const at::Tensor& mask, const at::Tensor& count) {
  return at::where(mask, output, at::zeros_like(output)).sum(0) / count;
}

// Unbiased variance over the masked points (NaN for fewer than two, as torch.var).
at::Tensor masked_variance(const at::Tensor& output, const at::Tensor& mask, const at::Tensor& mean,
                           const at::Tensor& count) {
  const at::Tensor deviation = output - mean;
  return at::where(mask, deviation * deviation, at::zeros_like(output)).sum(0) / (count - 1);
}

// (m1 − m0)² / (s0 + s1) per column.
at::Tensor fisher_discriminant(const at::Tensor& output, const at::Tensor& target) {
  const at::Tensor high = target == 1;
  const at::Tensor low = target == 0;
  const at::Tensor n1 = high.sum(0).to(output.scalar_type());
  const at::Tensor n0 = low.sum(0).to(output.scalar_type());
  const at::Tensor m1 = masked_mean(output, high, n1);
  const at::Tensor m0 = masked_mean(output, low, n0);
  const at::Tensor s1 = masked_variance(output, high, m1, n1);
  const at::Tensor s0 = masked_variance(output, low, m0, n0);
  const at::Tensor j = (m1 - m0).pow(2) / (s0 + s1);
  return at::where(constant_columns(output.detach()), at::full_like(j, kNaN), j);
}

const std::vector<Criterion>& registry() {
  // Built once on first use and never changed afterwards.
  static const std::vector<Criterion> criteria = {
      {"accuracy_fit", true, false, accuracy_fit, 0.0},
      {"bce", false, true, bce, kInfinity},
      {"corr_fit", true, true, corr_fit, -1.0},
      {"corrsig", false, true, [](const at::Tensor& o, const at::Tensor& t) { return corrsig(o, t); },
       kInfinity},
      {"corrsig_fit", true, true,
       [](const at::Tensor& o, const at::Tensor& t) { return corrsig_fit(o, t); }, -1.0},
      {"fisher", false, true, fisher, kInfinity},
      {"fisher_fit", true, true, fisher_fit, 0.0},
      {"sigmoid_nn_distance", false, true,
       [](const at::Tensor& o, const at::Tensor&) { return sigmoid_nn_distance(o); }, kInfinity},
  };
  return criteria;
}

}  // namespace

at::Tensor pearson(const at::Tensor& x, const at::Tensor& y) {
  return pearson_unchecked(x, checked_target("pearson correlation", x, y));
}

at::Tensor get_clamped_intervals(const at::Tensor& output, const std::string& mode,
                                 Boundaries boundaries) {
  check_signals("clamped intervals", output);
  if (mode != "single_nn" && mode != "double_nn" && mode != "intervals")
    throw ArgumentError(fmt::format(
        "cannot compute clamped intervals: unknown mode '{}' (valid: single_nn, double_nn, "
        "intervals)", mode));
  const auto [low, high] = boundaries;
  if (!(low <= high))
    throw ArgumentError(fmt::format(
        "cannot compute clamped intervals: boundaries [{}, {}] are reversed", low, high));
  const at::Tensor clamped = std::get<0>(output.sort(0)).clamp(low, high);
  const at::Tensor edge = at::ones({1, output.size(1)}, output.options());
  const at::Tensor dist = at::cat({clamped, edge * high}) - at::cat({edge * low, clamped});
  const std::int64_t n = output.size(0);
  if (mode == "double_nn") return dist;
  const at::Tensor above = dist.narrow(0, 1, n);
  const at::Tensor below = dist.narrow(0, 0, n);
  return mode == "single_nn" ? at::minimum(above, below) : above + below;
}

at::Tensor corrsig(const at::Tensor& output, const at::Tensor& target, double sigmoid_center,
                   double sigmoid_scale, double corr_shift) {
  const at::Tensor t = checked_target("corrsig", output, target);
  if (auto fused = detail::corrsig_kernel(output, t, {sigmoid_center, sigmoid_scale, corr_shift}))
    return *fused;
  const at::Tensor corr = pearson_unchecked(output, t);
  // Smallest high output minus largest low output: positive when the classes separate.
  const at::Tensor high_min = at::where(t == 1, output, at::full_like(output, kInfinity)).amin(0);
  const at::Tensor low_max = at::where(t == 0, output, at::full_like(output, -kInfinity)).amax(0);
  const at::Tensor delta = high_min - low_max;
  const at::Tensor both_classes = (t == 1).any(0) & (t == 0).any(0);
  const at::Tensor loss = (corr_shift - corr) / at::sigmoid((delta - sigmoid_center) / sigmoid_scale);
  return at::where(both_classes, loss, at::full_like(loss, kNaN));
}

at::Tensor fisher(const at::Tensor& output, const at::Tensor& target) {
  return -fisher_discriminant(output, checked_target("fisher", output, target));
}

at::Tensor sigmoid_nn_distance(const at::Tensor& output, double sigmoid_center,
                               double sigmoid_scale, Boundaries boundaries) {
  const at::Tensor nearest = get_clamped_intervals(output, "single_nn", boundaries);
  return -(at::sigmoid(nearest / sigmoid_scale) - sigmoid_center).mean(0);
}

at::Tensor bce(const at::Tensor& output, const at::Tensor& target) {
  return at::binary_cross_entropy_with_logits(output, checked_target("bce", output, target));
}

at::Tensor corr_fit(const at::Tensor& output, const at::Tensor& target) {
  return nan_to(pearson_unchecked(output, checked_target("corr_fit", output, target)), -1.0);
}

at::Tensor accuracy_fit(const at::Tensor& output, const at::Tensor& target) {
  const at::Tensor t = checked_target("accuracy_fit", output, target);
  const ColumnThresholds best = optimal_threshold_accuracy_columns(output, t);
  return nan_to(best.accuracy_percent, 0.0).to(output.scalar_type());
}

at::Tensor corrsig_fit(const at::Tensor& output, const at::Tensor& target, double sigmoid_center,
                       double sigmoid_scale) {
  const at::Tensor t = checked_target("corrsig_fit", output, target);
  const at::Tensor high = t == 1;
  const at::Tensor low = t == 0;
  const at::Tensor separation =
      masked_mean(output, high, high.sum(0).to(output.scalar_type())) -
      masked_mean(output, low, low.sum(0).to(output.scalar_type()));
  const at::Tensor corr = pearson_unchecked(output, t);
  return nan_to(corr * at::sigmoid(sigmoid_scale * (separation - sigmoid_center)), -1.0);
}

at::Tensor fisher_fit(const at::Tensor& output, const at::Tensor& target) {
  return nan_to(fisher_discriminant(output, checked_target("fisher_fit", output, target)), 0.0);
}

const Criterion& criterion(const std::string& name) {
  const auto& criteria = registry();
  const auto found = std::find_if(criteria.begin(), criteria.end(),
                                  [&](const Criterion& c) { return c.name == name; });
  if (found == criteria.end())
    throw ConfigError("algorithm.criterion", fmt::format("unknown criterion '{}' (valid: {})", name,
                                                         fmt::join(criterion_names(), ", ")));
  return *found;
}

std::vector<std::string> criterion_names() {
  std::vector<std::string> names;
  for (const Criterion& c : registry()) names.push_back(c.name);
  return names;
}

}  // namespace brains::algorithms
