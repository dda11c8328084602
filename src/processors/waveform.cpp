#include "brains/processors/waveform.h"

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace brains::processors {

namespace {

// numpy.linspace(start, stop, num, endpoint) rows `first`..`last` (inclusive), computed
// exactly as numpy does in the dtype of `start`: step = (stop - start) / div and
// row_k = k * step + start, except that when any step is zero numpy switches to
// (k / div) * delta + start; with endpoint the last row is exactly `stop`.
at::Tensor linspace_rows(const at::Tensor& start, const at::Tensor& stop, std::int64_t num,
                         bool endpoint, std::int64_t first, std::int64_t last) {
  if (last < first) return at::empty({0, start.size(0)}, start.options());
  const std::int64_t div = endpoint ? num - 1 : num;
  const at::Tensor delta = stop - start;
  const at::Tensor steps = at::arange(first, last + 1, start.options()).unsqueeze(1);
  const at::Tensor divisor = at::full({}, static_cast<double>(div), start.options());
  const at::Tensor step = delta / divisor;
  at::Tensor rows = (step == 0).any().item<bool>() ? (steps / divisor) * delta : steps * step;
  rows = rows + start;
  if (endpoint && num > 1 && last == num - 1) rows[rows.size(0) - 1] = stop;
  return rows;
}

void require_matrix(const at::Tensor& x, const char* what) {
  if (x.dim() < 2)
    throw ArgumentError(std::string("cannot build waveform: ") + what +
                        " must have shape (samples, electrodes), got " +
                        std::to_string(x.dim()) + " dimension(s)");
}

}  // namespace

Waveform::Waveform(std::int64_t plateau_length, std::int64_t slope_length)
    : plateau_length_(plateau_length), slope_length_(slope_length) {
  if (plateau_length < 1)
    throw ConfigError("waveform.plateau_length",
                      "expected a positive integer, got " + std::to_string(plateau_length));
  if (slope_length < 0)
    throw ConfigError("waveform.slope_length",
                      "expected a non-negative integer, got " + std::to_string(slope_length));
}

Waveform Waveform::from_config(const Config& waveform) {
  const auto plateau = waveform.get<std::int64_t>("plateau_length");
  const auto slope = waveform.get<std::int64_t>("slope_length");
  if (plateau < 1)
    throw ConfigError(waveform.key_path("plateau_length"),
                      "expected a positive integer, got " + std::to_string(plateau));
  if (slope < 0)
    throw ConfigError(waveform.key_path("slope_length"),
                      "expected a non-negative integer, got " + std::to_string(slope));
  return Waveform(plateau, slope);
}

std::int64_t Waveform::waveform_length(std::int64_t points) const noexcept {
  // No data, no ramps: plateaus_to_waveform of zero rows is empty too.
  if (points <= 0) return 0;
  return points * plateau_length_ + (points + 1) * slope_length_;
}

at::Tensor Waveform::points_to_plateaus(const at::Tensor& points) const {
  return points.repeat_interleave(plateau_length_, 0);
}

at::Tensor Waveform::plateaus_to_points(const at::Tensor& plateaus) const {
  if (plateaus.size(0) % plateau_length_ != 0)
    throw ArgumentError("cannot average plateaus: " + std::to_string(plateaus.size(0)) +
                        " samples is not a multiple of plateau_length " +
                        std::to_string(plateau_length_));
  std::vector<std::int64_t> shape{plateaus.size(0) / plateau_length_, plateau_length_};
  for (std::int64_t d = 1; d < plateaus.dim(); ++d) shape.push_back(plateaus.size(d));
  return plateaus.reshape(shape).mean(1);
}

at::Tensor Waveform::points_to_waveform(const at::Tensor& points) const {
  require_matrix(points, "points");
  return plateaus_to_waveform(points_to_plateaus(points)).first;
}

std::pair<at::Tensor, at::Tensor> Waveform::plateaus_to_waveform(const at::Tensor& plateaus) const {
  require_matrix(plateaus, "plateaus");
  const std::int64_t p = plateau_length_;
  const std::int64_t s = slope_length_;
  if (plateaus.size(0) % p != 0)
    throw ArgumentError("cannot build waveform: " + std::to_string(plateaus.size(0)) +
                        " samples is not a multiple of plateau_length " + std::to_string(p));
  const std::int64_t n = plateaus.size(0) / p;
  if (n == 0) return {plateaus.new_zeros({0, plateaus.size(1)}), mask(0)};
  const at::Tensor zero = at::zeros_like(plateaus[0]);
  std::vector<at::Tensor> parts;
  parts.reserve(2 * n + 1);
  parts.push_back(linspace_rows(zero, plateaus[0], s, /*endpoint=*/false, 0, s - 1));
  for (std::int64_t i = 0; i < n; ++i) {
    parts.push_back(plateaus.narrow(0, i * p, p));
    if (i + 1 < n)
      parts.push_back(linspace_rows(plateaus[(i + 1) * p - 1], plateaus[(i + 1) * p], s + 2,
                                    /*endpoint=*/true, 1, s));
  }
  parts.push_back(linspace_rows(plateaus[n * p - 1], zero, s + 1, /*endpoint=*/true, 1, s));
  return {at::cat(parts, 0), mask(waveform_length(n))};
}

at::Tensor Waveform::mask(std::int64_t length) const {
  at::Tensor out = at::zeros({length}, at::kBool);
  const std::int64_t period = plateau_length_ + slope_length_;
  for (std::int64_t start = slope_length_; start + plateau_length_ <= length - slope_length_;
       start += period)
    out.narrow(0, start, plateau_length_).fill_(true);
  return out;
}

at::Tensor Waveform::waveform_to_plateaus(const at::Tensor& waveform) const {
  return waveform.index({mask(waveform.size(0))});
}

at::Tensor Waveform::waveform_to_points(const at::Tensor& waveform) const {
  return plateaus_to_points(waveform_to_plateaus(waveform));
}

}  // namespace brains::processors
