#include "brains/algorithms/adam.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "brains/core/error.h"

namespace brains::algorithms {

namespace {

// One pass of the update with the options fixed at compile time: a loop without branches,
// which GCC vectorises (with -fno-math-errno for sqrt, see CMakeLists.txt).
template <typename T, bool kDecay, bool kAmsgrad>
void update_loop(T* p, const T* g, T* m, T* v, T* v_max, std::int64_t n, T beta1,
                 T one_minus_beta1, T beta2, T one_minus_beta2, T root_correction2, T eps,
                 T minus_step, T decay) {
  for (std::int64_t i = 0; i < n; ++i) {
    T grad = g[i];
    if constexpr (kDecay) grad = grad + decay * p[i];
    m[i] = m[i] * beta1 + one_minus_beta1 * grad;
    v[i] = v[i] * beta2 + one_minus_beta2 * grad * grad;
    T second = v[i];
    if constexpr (kAmsgrad) second = v_max[i] = std::max(v_max[i], v[i]);
    const T denom = std::sqrt(second) / root_correction2 + eps;
    p[i] = p[i] + minus_step * m[i] / denom;
  }
}

// The element-wise update of torch::optim::Adam::step (torch 1.13), in the parameter's own
// precision and in the same order of operations.
template <typename T>
void update(T* p, const T* g, T* m, T* v, T* v_max, std::int64_t n, const AdamSettings& s,
            std::int64_t steps) {
  const double bias_correction1 = 1 - std::pow(s.beta1, static_cast<double>(steps));
  const double bias_correction2 = 1 - std::pow(s.beta2, static_cast<double>(steps));
  const T beta1 = static_cast<T>(s.beta1), one_minus_beta1 = static_cast<T>(1 - s.beta1);
  const T beta2 = static_cast<T>(s.beta2), one_minus_beta2 = static_cast<T>(1 - s.beta2);
  const T root_correction2 = static_cast<T>(std::sqrt(bias_correction2));
  const T eps = static_cast<T>(s.eps);
  const T minus_step = static_cast<T>(-s.learning_rate / bias_correction1);
  const T decay = static_cast<T>(s.weight_decay);
  const auto run = [&](auto loop) {
    loop(p, g, m, v, v_max, n, beta1, one_minus_beta1, beta2, one_minus_beta2, root_correction2,
         eps, minus_step, decay);
  };
  const bool decays = s.weight_decay != 0;
  if (v_max) {
    if (decays) run(update_loop<T, true, true>);
    else run(update_loop<T, false, true>);
  } else {
    if (decays) run(update_loop<T, true, false>);
    else run(update_loop<T, false, false>);
  }
}

template <typename T>
bool all_finite(const T* values, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i])) return false;
  return true;
}

}  // namespace

void adam_update(float* parameter, const float* gradient, float* exp_avg, float* exp_avg_sq,
                 float* v_max, std::int64_t n, const AdamSettings& settings, std::int64_t steps) {
  update(parameter, gradient, exp_avg, exp_avg_sq, v_max, n, settings, steps);
}

Adam::Adam(std::vector<at::Tensor> parameters, AdamSettings settings)
    : parameters_(std::move(parameters)), settings_(settings) {
  if (!(settings_.learning_rate >= 0) || !(settings_.eps >= 0) || !(settings_.weight_decay >= 0) ||
      !(settings_.beta1 >= 0 && settings_.beta1 < 1) ||
      !(settings_.beta2 >= 0 && settings_.beta2 < 1))
    throw ArgumentError(fmt::format(
        "cannot create Adam: lr {}, betas ({}, {}), eps {}, weight_decay {} out of range",
        settings_.learning_rate, settings_.beta1, settings_.beta2, settings_.eps,
        settings_.weight_decay));
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& p = parameters_[i];
    if (!p.defined() || !p.device().is_cpu() || !p.is_contiguous() ||
        (p.scalar_type() != at::kFloat && p.scalar_type() != at::kDouble))
      throw ArgumentError(fmt::format(
          "cannot create Adam: parameter {} is not a contiguous float32/float64 CPU tensor", i));
    State state;
    state.exp_avg = at::zeros_like(p, at::MemoryFormat::Contiguous);
    state.exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Contiguous);
    if (settings_.amsgrad) state.max_exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Contiguous);
    states_.push_back(std::move(state));
  }
}

bool Adam::step() {
  std::vector<at::Tensor> grads(parameters_.size());
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& grad = parameters_[i].grad();
    if (!grad.defined()) continue;
    grads[i] = grad.scalar_type() == parameters_[i].scalar_type() && grad.is_contiguous()
                   ? grad
                   : grad.to(parameters_[i].scalar_type()).contiguous();
    const bool finite = grads[i].scalar_type() == at::kFloat
                            ? all_finite(grads[i].data_ptr<float>(), grads[i].numel())
                            : all_finite(grads[i].data_ptr<double>(), grads[i].numel());
    if (!finite) return false;
  }
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!grads[i].defined()) continue;
    at::Tensor& p = parameters_[i];
    State& s = states_[i];
    ++s.steps;
    if (p.scalar_type() == at::kFloat)
      update(p.data_ptr<float>(), grads[i].data_ptr<float>(), s.exp_avg.data_ptr<float>(),
             s.exp_avg_sq.data_ptr<float>(),
             settings_.amsgrad ? s.max_exp_avg_sq.data_ptr<float>() : nullptr, p.numel(), settings_,
             s.steps);
    else
      update(p.data_ptr<double>(), grads[i].data_ptr<double>(), s.exp_avg.data_ptr<double>(),
             s.exp_avg_sq.data_ptr<double>(),
             settings_.amsgrad ? s.max_exp_avg_sq.data_ptr<double>() : nullptr, p.numel(),
             settings_, s.steps);
    p.unsafeGetTensorImpl()->bump_version();  // written in place, as autograd must know
  }
  return true;
}

void Adam::zero_grad() {
  for (auto& p : parameters_) {
    at::Tensor& grad = p.mutable_grad();
    if (grad.defined()) grad.zero_();
  }
}

void Adam::set_learning_rate(double learning_rate) {
  if (!(learning_rate >= 0))
    throw ArgumentError(fmt::format("cannot set Adam's learning rate to {}", learning_rate));
  settings_.learning_rate = learning_rate;
}

}  // namespace brains::algorithms
