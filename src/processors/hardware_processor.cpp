#include "brains/processors/hardware_processor.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/types.h>

#include <algorithm>
#include <string>
#include <utility>

#include "brains/core/error.h"

namespace brains::processors {

namespace {

std::string shape_of(const at::Tensor& x) {
  return x.defined() ? fmt::format("({})", fmt::join(x.sizes(), ", ")) : "undefined";
}

// (rows, activation electrodes), floating point: what both forward paths accept.
void require_input(const at::Tensor& x, std::int64_t electrodes, const char* action) {
  if (!x.defined() || x.dim() != 2)
    throw ArgumentError(fmt::format("cannot {}: expected a (samples, {}) matrix, got shape {}",
                                    action, electrodes, shape_of(x)));
  if (x.size(1) != electrodes)
    throw ArgumentError(fmt::format(
        "cannot {}: expected {} activation electrode columns, got {}", action, electrodes,
        x.size(1)));
  if (!x.is_floating_point())
    throw ArgumentError(fmt::format("cannot {}: expected floating-point voltages, got {}",
                                    action, c10::toString(x.scalar_type())));
}

}  // namespace

HardwareProcessorImpl::HardwareProcessorImpl(std::shared_ptr<Driver> driver, Waveform waveform)
    : driver_(std::move(driver)), waveform_(waveform) {
  if (!driver_) throw ArgumentError("cannot build hardware processor: the driver is null");
  const at::Tensor ranges = driver_->voltage_ranges().to(at::kCPU, at::kFloat);
  const std::int64_t electrodes = driver_->activation_electrode_count();
  if (ranges.dim() != 2 || ranges.size(0) != electrodes || ranges.size(1) != 2)
    throw ArgumentError(fmt::format(
        "cannot build hardware processor: driver '{}' has {} activation electrodes but "
        "voltage ranges of shape {}",
        driver_->name(), electrodes, shape_of(ranges)));
  // A buffer, so .to() and state dicts carry it (upstream kept a plain attribute, §15.33).
  voltage_ranges_ = register_buffer("voltage_ranges", ranges.clone());
  limits_.voltage_ranges = voltage_ranges_;
  limits_.absolute_limit_v = std::min(driver_->absolute_limit_v(), kAbsoluteLimitV);
  limits_.zero_at_ends = driver_->is_hardware();
  limits_.max_step_v = driver_->max_step_v();
}

at::Tensor HardwareProcessorImpl::forward(const at::Tensor& plateaus) {
  require_input(plateaus, driver_->activation_electrode_count(), "measure plateaus");
  check_finite_input(plateaus, "measure plateaus");
  torch::NoGradGuard no_grad;
  // Ramps are built in the input dtype, so float32 plateaus give brains-py's exact samples.
  auto [waveform, mask] = waveform_.plateaus_to_waveform(plateaus.detach());
  const at::Tensor currents = measure(waveform.to(at::kCPU, at::kDouble));
  return currents.index({mask}).to(plateaus.device(), plateaus.scalar_type());
}

at::Tensor HardwareProcessorImpl::forward_waveform(const at::Tensor& waveform) {
  require_input(waveform, driver_->activation_electrode_count(), "measure waveform");
  torch::NoGradGuard no_grad;
  const at::Tensor currents = measure(waveform.detach().to(at::kCPU, at::kDouble));
  return currents.to(waveform.device(), waveform.scalar_type());
}

at::Tensor HardwareProcessorImpl::measure(const at::Tensor& waveform) {
  const std::int64_t outputs = driver_->readout_electrode_count();
  // Nothing to apply: no driver call, in particular none with an empty task.
  if (waveform.size(0) == 0) return at::zeros({0, outputs}, at::kDouble);
  // .to() replaces the buffer's data in place, but a fresh handle costs nothing.
  limits_.voltage_ranges = voltage_ranges_;
  check_waveform_safety(waveform, limits_);
  const at::Tensor currents = driver_->measure(waveform);
  if (!currents.defined() || currents.dim() != 2 || currents.size(0) != waveform.size(0) ||
      currents.size(1) != outputs)
    throw HardwareError(fmt::format(
        "cannot measure waveform: driver '{}' returned shape {}, expected ({}, {})",
        driver_->name(), shape_of(currents), waveform.size(0), outputs));
  return currents.to(at::kDouble);
}

}  // namespace brains::processors
