// HardwareProcessor: the hardware path of a Processor (brains-py spec §6). Plateaus become
// a waveform with ramps, the waveform passes the safety check, the driver measures it, and
// the ramp samples are masked out again. No gradient flows through hardware.
//
// Raises: ArgumentError (wrong width, non-floating or NaN/Inf input; a null driver or
//         ranges that do not fit it), SafetyError (the waveform would leave the safe
//         envelope; the driver was not called), HardwareError (the driver failed or
//         returned the wrong shape).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include "brains/processors/driver.h"
#include "brains/processors/safety.h"
#include "brains/processors/waveform.h"

namespace brains::processors {

class HardwareProcessorImpl : public torch::nn::Module {
 public:
  HardwareProcessorImpl(std::shared_ptr<Driver> driver, Waveform waveform);

  // (B·P, E) plateaus -> (B·P, n_out) currents in the dtype and device of the input.
  at::Tensor forward(const at::Tensor& plateaus);
  // A ready-made waveform (L, E) -> (L, n_out); the same safety check applies.
  at::Tensor forward_waveform(const at::Tensor& waveform);

  at::Tensor voltage_ranges() const { return voltage_ranges_; }
  at::Tensor clipping_value() const { return driver_->clipping_value(); }
  bool is_hardware() const { return driver_->is_hardware(); }
  const SafetyLimits& safety_limits() const noexcept { return limits_; }
  Driver& driver() { return *driver_; }
  void close() { driver_->close(); }

 private:
  // Safety check, driver call and shape check of a float64 CPU waveform.
  at::Tensor measure(const at::Tensor& waveform);

  std::shared_ptr<Driver> driver_;
  Waveform waveform_;
  SafetyLimits limits_;
  at::Tensor voltage_ranges_;  // buffer
};
TORCH_MODULE(HardwareProcessor);

}  // namespace brains::processors
