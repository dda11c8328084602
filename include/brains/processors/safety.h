// The one safety check every waveform passes before any driver call (DESIGN.md "Hardware
// safety"): per-electrode ranges, the absolute limit, 0 V at both ends on hardware, and an
// optional largest step between consecutive samples. Nothing is sent when it fails.
//
// Raises: SafetyError naming the electrode, sample and value; ArgumentError for a waveform
//         that is not a floating-point (samples, electrodes) matrix or ranges not (E, 2).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string_view>

namespace brains::processors {

// DESIGN.md: no voltage above this ever reaches a device; configs and drivers may only
// lower it.
inline constexpr double kAbsoluteLimitV = 1.6;

struct SafetyLimits {
  at::Tensor voltage_ranges;       // (E, 2) volts
  double absolute_limit_v = kAbsoluteLimitV;  // only lowers the 1.6 V limit, never raises it
  bool zero_at_ends = true;        // first and last samples exactly 0 V
  std::optional<double> max_step_v;  // largest |V[t+1] - V[t]|, if limited
  double tolerance_v = 1e-6;       // float32 rounding of range edges
};

// Checks, in order: finite values, one column per voltage range, each electrode within
// [min - tolerance, max + tolerance], |V| <= absolute_limit_v, first and last rows exactly
// 0 V (zero_at_ends, unless the waveform is empty), and the largest step. Vectorised; only
// the first offender is located.
void check_waveform_safety(const at::Tensor& waveform, const SafetyLimits& limits);

// Rejects NaN and Inf in user input before any work is done: ArgumentError
// "cannot <action>: input row 3 column 1 is nan".
void check_finite_input(const at::Tensor& input, std::string_view action);

}  // namespace brains::processors
