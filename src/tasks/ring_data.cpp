#include "brains/tasks/ring_data.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "brains/core/error.h"
#include "brains/core/seed.h"

namespace brains::tasks {

namespace {

// Portable draws (std:: distributions differ between standard libraries).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                              std::numeric_limits<std::uint64_t>::max() % n;
  std::uint64_t value;
  do value = rng();
  while (value >= limit);
  return value % n;
}

std::vector<std::int64_t> permutation(std::int64_t n, std::mt19937_64& rng) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[below(rng, static_cast<std::uint64_t>(i) + 1)]);
  return order;
}

// Upstream get_class_points: fixed angles, radii jittered independently along x and y.
std::vector<float> class_coordinates(std::int64_t m, double r_in, double r_out, bool sine,
                                     std::mt19937_64& rng) {
  constexpr double kTwoPi = 6.283185307179586;
  std::vector<float> values(static_cast<std::size_t>(m));
  for (std::int64_t k = 0; k < m; ++k) {
    const float theta = static_cast<float>(kTwoPi * static_cast<double>(k) / static_cast<double>(m));
    const double radius = r_in + (r_out - r_in) * uniform01(rng);
    values[k] = static_cast<float>((sine ? std::sin(theta) : std::cos(theta)) * radius);
  }
  return values;
}

std::int64_t even_floor(double value) {
  const auto rows = static_cast<std::int64_t>(std::floor(value + 1e-9));
  return rows - rows % 2;
}

algorithms::Dataset rows(const RingDataset& data, std::int64_t begin, std::int64_t end) {
  return {data.inputs.slice(0, begin, end), data.targets.slice(0, begin, end)};
}

}  // namespace

void check_gap(double gap) {
  if (!(gap > 0.0 && gap < 1.0))
    throw ArgumentError(fmt::format(
        "cannot build ring data: gap must lie strictly between 0 and 1 (outer radius 1), got {}",
        gap));
}

std::pair<double, double> ring_radii(double gap) {
  check_gap(gap);
  return {(1.0 - gap) / 2.0, (1.0 + gap) / 2.0};
}

RingDataset generate_ring_data(std::int64_t sample_no, double gap, std::uint64_t seed) {
  check_gap(gap);
  if (sample_no < 2 || sample_no % 2 != 0)
    throw ArgumentError(fmt::format(
        "cannot build ring data: sample_no must be a positive even number (two balanced classes), "
        "got {}",
        sample_no));
  const auto [inner, outer] = ring_radii(gap);
  const std::int64_t m = sample_no / 2;
  std::mt19937_64 rng = make_rng(seed, "ring_data");
  const std::vector<std::int64_t> order = permutation(sample_no, rng);
  const auto x0 = class_coordinates(m, 0.0, inner, false, rng);
  const auto y0 = class_coordinates(m, 0.0, inner, true, rng);
  const auto x1 = class_coordinates(m, outer, 1.0, false, rng);
  const auto y1 = class_coordinates(m, outer, 1.0, true, rng);

  RingDataset data;
  data.gap = gap;
  data.seed = seed;
  data.inputs = at::empty({sample_no, 2}, at::kFloat);
  data.targets = at::empty({sample_no, 1}, at::kFloat);
  auto in = data.inputs.accessor<float, 2>();
  auto target = data.targets.accessor<float, 2>();
  // Indices below M of the permutation order class 0, the others class 1 (as upstream).
  std::int64_t next0 = 0, next1 = 0;
  for (const std::int64_t index : order) {
    const bool first_class = index < m;
    const std::int64_t row = first_class ? 2 * next0++ : 2 * next1++ + 1;
    const std::int64_t k = first_class ? index : index - m;
    in[row][0] = first_class ? x0[k] : x1[k];
    in[row][1] = first_class ? y0[k] : y1[k];
    target[row][0] = first_class ? 0.0f : 1.0f;
  }
  return data;
}

void check_ring_dataset(const RingDataset& data) {
  if (!data.inputs.defined() || data.inputs.numel() == 0)
    throw ArgumentError("cannot use ring data: the dataset is empty");
  if (data.inputs.dim() != 2 || data.inputs.size(1) != 2)
    throw ArgumentError(fmt::format("cannot use ring data: inputs must be (n, 2), got ({})",
                                    fmt::join(data.inputs.sizes(), ", ")));
  if (!data.targets.defined() || data.targets.dim() != 2 || data.targets.size(1) != 1 ||
      data.targets.size(0) != data.inputs.size(0))
    throw ArgumentError(fmt::format(
        "cannot use ring data: targets must be ({}, 1), got ({})", data.inputs.size(0),
        data.targets.defined() ? fmt::format("{}", fmt::join(data.targets.sizes(), ", ")) : ""));
  if (!at::logical_or(data.targets == 0, data.targets == 1).all().item<bool>())
    throw ArgumentError("cannot use ring data: targets must be 0 (inner disc) or 1 (outer ring)");
}

RingSplits split_ring_data(const RingDataset& data, const std::vector<double>& percentages) {
  check_ring_dataset(data);
  if (percentages.size() != 2 && percentages.size() != 3)
    throw ArgumentError(fmt::format(
        "cannot split ring data: expected 2 or 3 split percentages (train, [validation,] test), "
        "got {}",
        percentages.size()));
  double sum = 0;
  for (const double p : percentages) {
    if (!(p >= 0.0))
      throw ArgumentError(fmt::format("cannot split ring data: negative split percentage in [{}]",
                                      fmt::join(percentages, ", ")));
    sum += p;
  }
  if (std::abs(sum - 1.0) > 1e-6)
    throw ArgumentError(fmt::format("cannot split ring data: split percentages [{}] sum to {}, not 1",
                                    fmt::join(percentages, ", "), sum));
  const std::int64_t n = data.inputs.size(0);
  const std::int64_t a = even_floor(percentages[0] * static_cast<double>(n));
  const std::int64_t b =
      percentages.size() == 3 ? even_floor((percentages[0] + percentages[1]) * static_cast<double>(n)) : a;
  if (a == 0 || b >= n)
    throw ArgumentError(fmt::format(
        "cannot split ring data: {} samples split [{}] leave an empty {} set", n,
        fmt::join(percentages, ", "), a == 0 ? "training" : "test"));
  return {rows(data, 0, a), rows(data, a, b), rows(data, b, n)};
}

}  // namespace brains::tasks
