// Adam with torch::optim::Adam's arithmetic (L2 weight decay, optional AMSGrad), updating
// each parameter's values in one pass over its memory. Gradient descent on DNPUs steps a
// handful of control voltages thousands of times, where torch's optimizer spends ~20 µs a
// step on per-tensor operations and state lookups; here a step of a few hundred values
// takes well under a microsecond. A step whose gradients hold NaN or Inf is refused and
// changes nothing (Adam would write NaN into every parameter).
//
// Parameters must be contiguous float32 or float64 CPU tensors (any module's parameters
// are); gradients may be missing (the parameter is skipped, as torch does).
//
// Example:
//   Adam adam(model->parameters(), AdamSettings{0.01});
//   adam.zero_grad(); loss.backward(); adam.step();
//
// Raises: ArgumentError (a parameter that is not a contiguous float CPU tensor, bad settings).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace brains::algorithms {

struct AdamSettings {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

// The element-wise update of torch::optim::Adam::step (torch 1.13) for n float32 values, in
// the same order of operations: `steps` counts this update (1 for the first). For callers
// that keep their own parameter, gradient and moment buffers (fused surrogate training).
// v_max is the AMSGrad maximum (null without AMSGrad).
void adam_update(float* parameter, const float* gradient, float* exp_avg, float* exp_avg_sq,
                 float* v_max, std::int64_t n, const AdamSettings& settings, std::int64_t steps);

class Adam {
 public:
  Adam(std::vector<at::Tensor> parameters, AdamSettings settings);
  Adam(Adam&&) = default;
  Adam& operator=(Adam&&) = default;
  Adam(const Adam&) = delete;
  Adam& operator=(const Adam&) = delete;

  // One update; false (nothing changed) when a gradient is not finite.
  bool step();
  // Zeroes the gradients in place (as torch's zero_grad with set_to_none = false).
  void zero_grad();
  double learning_rate() const noexcept { return settings_.learning_rate; }
  void set_learning_rate(double learning_rate);

 private:
  struct State {
    at::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
    std::int64_t steps = 0;
  };
  std::vector<at::Tensor> parameters_;
  std::vector<State> states_;
  AdamSettings settings_;
};

}  // namespace brains::algorithms
