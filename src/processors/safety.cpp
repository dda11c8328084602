#include "brains/processors/safety.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "brains/core/error.h"

namespace brains::processors {

namespace {

struct Offender {
  std::int64_t sample;
  std::int64_t electrode;
};

// The first true entry of a (L, E) bool mask in row-major order, if any. Only this search
// touches individual elements; the tests themselves are whole-tensor operations.
std::optional<Offender> first_offender(const at::Tensor& bad) {
  if (bad.numel() == 0 || !bad.any().item<bool>()) return std::nullopt;
  const std::int64_t flat = bad.reshape(-1).to(at::kByte).argmax().item<std::int64_t>();
  const std::int64_t columns = bad.dim() < 2 ? 1 : bad.size(1);
  return Offender{flat / columns, flat % columns};
}

std::string volts(double value) { return fmt::format("{:.6g}", value); }

[[noreturn]] void refuse(const std::string& reason) {
  throw SafetyError("cannot apply waveform: " + reason);
}

void require_shapes(const at::Tensor& waveform, const at::Tensor& ranges) {
  if (!waveform.defined() || waveform.dim() != 2 || !waveform.is_floating_point())
    throw ArgumentError(
        "cannot check waveform: expected a floating-point (samples, electrodes) matrix, got " +
        (waveform.defined() ? std::to_string(waveform.dim()) + "-d " +
                                  std::string(c10::toString(waveform.scalar_type()))
                            : std::string("an undefined tensor")));
  if (!ranges.defined() || ranges.dim() != 2 || ranges.size(1) != 2)
    throw ArgumentError("cannot check waveform: voltage ranges must have shape (electrodes, 2)");
}

void check_finite(const at::Tensor& w) {
  if (auto bad = first_offender(at::isfinite(w).logical_not()))
    refuse(fmt::format("electrode {} sample {} is {}, not a finite voltage", bad->electrode,
                       bad->sample, w[bad->sample][bad->electrode].item<double>()));
}

void check_ranges(const at::Tensor& w, const at::Tensor& ranges, double tolerance) {
  const at::Tensor low = ranges.select(1, 0);
  const at::Tensor high = ranges.select(1, 1);
  if (auto bad = first_offender((w < low - tolerance).logical_or(w > high + tolerance))) {
    const std::int64_t e = bad->electrode;
    refuse(fmt::format("electrode {} sample {} is {} V, outside its range [{}, {}] V", e,
                       bad->sample, volts(w[bad->sample][e].item<double>()),
                       volts(low[e].item<double>()), volts(high[e].item<double>())));
  }
}

void check_absolute(const at::Tensor& w, double limit) {
  if (auto bad = first_offender(w.abs() > limit))
    refuse(fmt::format("electrode {} sample {} is {} V, above the absolute limit of {} V",
                       bad->electrode, bad->sample,
                       volts(w[bad->sample][bad->electrode].item<double>()), volts(limit)));
}

// Hardware outputs rest at 0 V; a waveform that jumps there would step the device.
void check_ends(const at::Tensor& w) {
  const std::int64_t last = w.size(0) - 1;
  for (std::int64_t sample : {std::int64_t{0}, last}) {
    if (auto bad = first_offender(w.narrow(0, sample, 1) != 0))
      refuse(fmt::format(
          "electrode {} sample {} is {} V, but a waveform must start and end at 0 V "
          "(slope_length >= 1 adds the ramps)",
          bad->electrode, sample, volts(w[sample][bad->electrode].item<double>())));
  }
}

void check_steps(const at::Tensor& w, double max_step, double tolerance) {
  if (w.size(0) < 2) return;
  const at::Tensor steps = w.narrow(0, 1, w.size(0) - 1) - w.narrow(0, 0, w.size(0) - 1);
  if (auto bad = first_offender(steps.abs() > max_step + tolerance))
    refuse(fmt::format("electrode {} steps by {} V between samples {} and {}, above the "
                       "largest step of {} V",
                       bad->electrode, volts(steps[bad->sample][bad->electrode].item<double>()),
                       bad->sample, bad->sample + 1, volts(max_step)));
}

}  // namespace

void check_waveform_safety(const at::Tensor& waveform, const SafetyLimits& limits) {
  require_shapes(waveform, limits.voltage_ranges);
  // Comparisons in float64, so float32 range edges and samples compare as stored.
  const at::Tensor w = waveform.to(at::kDouble);
  const at::Tensor ranges = limits.voltage_ranges.to(w.device(), at::kDouble);
  check_finite(w);
  if (w.size(1) != ranges.size(0))
    refuse(fmt::format("it has {} electrode columns, but {} voltage ranges are configured",
                       w.size(1), ranges.size(0)));
  check_ranges(w, ranges, limits.tolerance_v);
  check_absolute(w, std::min(limits.absolute_limit_v, kAbsoluteLimitV));
  if (limits.zero_at_ends && w.size(0) > 0) check_ends(w);
  if (limits.max_step_v) check_steps(w, *limits.max_step_v, limits.tolerance_v);
}

void check_finite_input(const at::Tensor& input, std::string_view action) {
  if (!input.defined() || !input.is_floating_point() || input.numel() == 0) return;
  const at::Tensor bad = at::isfinite(input).logical_not();
  if (!bad.any().item<bool>()) return;
  // Name the offender by row and column of the flattened (rows, columns) view.
  const at::Tensor matrix = bad.dim() >= 2 ? bad.reshape({bad.size(0), -1}) : bad.reshape({-1, 1});
  const auto at_index = first_offender(matrix);
  const at::Tensor values = input.reshape({matrix.size(0), matrix.size(1)});
  throw ArgumentError(fmt::format("cannot {}: input row {} column {} is {}", action,
                                  at_index->sample, at_index->electrode,
                                  values[at_index->sample][at_index->electrode].item<double>()));
}

}  // namespace brains::processors
