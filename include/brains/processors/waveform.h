// Waveform: the three forms of an input signal (brains-py WaveformManager, spec §11.1).
//   points    (N, E): one row per data point;
//   plateaus  (N·P, E): each point held for P samples (plateau_length);
//   waveform  (N·P + (N+1)·S, E): plateaus joined by linear ramps of S samples
//             (slope_length), starting and ending at 0 V, with a mask true on plateaus.
// Ramps reproduce numpy.linspace in the data's dtype, so float32 values are bit-identical
// to brains-py's.
//
// Raises: ConfigError (negative or missing lengths), ArgumentError (bad shapes).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

#include "brains/core/config.h"

namespace brains::processors {

class Waveform {
 public:
  Waveform(std::int64_t plateau_length, std::int64_t slope_length);
  // Reads `plateau_length` and `slope_length` (the `waveform` section of a processor config).
  static Waveform from_config(const Config& waveform);

  std::int64_t plateau_length() const noexcept { return plateau_length_; }
  std::int64_t slope_length() const noexcept { return slope_length_; }
  // P == 1 and S == 0: points and plateaus are the same thing.
  bool is_static() const noexcept { return plateau_length_ == 1 && slope_length_ == 0; }
  // Samples in the waveform of `points` data points.
  std::int64_t waveform_length(std::int64_t points) const noexcept;

  at::Tensor points_to_plateaus(const at::Tensor& points) const;
  // Mean over each block of P rows; trailing dimensions are kept.
  at::Tensor plateaus_to_points(const at::Tensor& plateaus) const;
  at::Tensor points_to_waveform(const at::Tensor& points) const;
  // (waveform, mask); the plateau rows are taken as they are (they need not be constant).
  std::pair<at::Tensor, at::Tensor> plateaus_to_waveform(const at::Tensor& plateaus) const;
  // Bool (L,): true on plateau samples of a waveform of length L.
  at::Tensor mask(std::int64_t waveform_length) const;
  at::Tensor waveform_to_plateaus(const at::Tensor& waveform) const;
  at::Tensor waveform_to_points(const at::Tensor& waveform) const;

 private:
  std::int64_t plateau_length_;
  std::int64_t slope_length_;
};

}  // namespace brains::processors
