#include "brains/processors/surrogate_driver.h"

#include <ATen/ATen.h>
#include <torch/types.h>

#include <utility>

#include "brains/core/error.h"

namespace brains::processors {

namespace {

// The device and dtype of the network's weights (float32 unless converted); inputs follow.
at::TensorOptions options_of(SurrogateModelImpl& model) {
  const auto parameters = model.parameters();
  if (parameters.empty()) return at::TensorOptions().dtype(at::kFloat);
  return at::TensorOptions().device(parameters.front().device()).dtype(
      parameters.front().scalar_type());
}

}  // namespace

SurrogateDriver::SurrogateDriver(SurrogateModel model) : model_(std::move(model)) {
  if (!model_) throw ArgumentError("cannot build simulation_debug driver: the surrogate is null");
  const at::Tensor ranges = model_->voltage_ranges();
  if (!ranges.defined() || ranges.numel() == 0)
    throw ArgumentError(
        "cannot build simulation_debug driver: the surrogate has no voltage ranges (set its "
        "effects first)");
}

at::Tensor SurrogateDriver::measure(const at::Tensor& waveform) {
  torch::NoGradGuard no_grad;
  // The surrogate is a float32 network; the float64 waveform holds float32 ramp values, so
  // the round trip is exact.
  const at::Tensor x = waveform.to(options_of(*model_));
  return model_->forward(x).to(at::kCPU, at::kDouble);
}

std::int64_t SurrogateDriver::activation_electrode_count() const {
  return model_->model->structure().d_in;
}

std::int64_t SurrogateDriver::readout_electrode_count() const {
  return model_->model->structure().d_out;
}

at::Tensor SurrogateDriver::voltage_ranges() const {
  return model_->voltage_ranges().to(at::kCPU, at::kFloat);
}

at::Tensor SurrogateDriver::clipping_value() const {
  return model_->clipping_value().to(at::kCPU, at::kFloat);
}

}  // namespace brains::processors
