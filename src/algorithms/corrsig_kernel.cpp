#include "corrsig_kernel.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>
#include <vector>

namespace brains::algorithms::detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One column: x the outputs, t the targets (stride `stride` apart), loss returned, the
// gradient d loss / d x written to `gradient` (also strided) when it is not null.
template <typename T>
double corrsig_column(const T* x, const T* t, std::int64_t n, std::int64_t stride,
                      const CorrsigParameters& p, T* gradient) {
  double mean_x = 0, mean_t = 0;
  bool constant_x = true, constant_t = true;
  double high_min = kInfinity, low_max = -kInfinity;
  std::int64_t highs = 0, lows = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double xi = x[i * stride], ti = t[i * stride];
    mean_x += xi, mean_t += ti;
    constant_x &= xi == static_cast<double>(x[0]);
    constant_t &= ti == static_cast<double>(t[0]);
    if (ti == 1) ++highs, high_min = std::min(high_min, xi);
    if (ti == 0) ++lows, low_max = std::max(low_max, xi);
  }
  mean_x /= static_cast<double>(n), mean_t /= static_cast<double>(n);
  double sxx = 0, stt = 0, sxt = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double vx = x[i * stride] - mean_x, vt = t[i * stride] - mean_t;
    sxx += vx * vx, stt += vt * vt, sxt += vx * vt;
  }
  const double norm = std::sqrt(sxx) * std::sqrt(stt);
  const double corr = constant_x || constant_t ? kNaN : sxt / norm;
  const double sigma = 1.0 / (1.0 + std::exp(-(high_min - low_max - p.sigmoid_center) / p.sigmoid_scale));
  const bool both_classes = highs > 0 && lows > 0;
  const double loss = both_classes ? (p.corr_shift - corr) / sigma : kNaN;
  if (!gradient) return loss;

  if (!both_classes) {  // undefined, as the composite's 0 · ∞ gives: GD skips such a step
    for (std::int64_t i = 0; i < n; ++i) gradient[i * stride] = static_cast<T>(kNaN);
    return loss;
  }
  // loss = (shift − r) / σ(z), z = (gap − center) / scale, gap = min(high) − max(low).
  const double d_corr = -1.0 / sigma;
  const double d_gap = -(p.corr_shift - corr) * (1.0 - sigma) / sigma / p.sigmoid_scale;
  std::int64_t at_min = 0, at_max = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double xi = x[i * stride], ti = t[i * stride];
    at_min += ti == 1 && xi == high_min;
    at_max += ti == 0 && xi == low_max;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const double xi = x[i * stride], ti = t[i * stride];
    // dr/dx_i = v_t,i / (|v_x| |v_t|) − r v_x,i / |v_x|²  (NaN for constant columns)
    double g = d_corr * ((ti - mean_t) / norm - corr * (xi - mean_x) / sxx);
    if (ti == 1 && xi == high_min) g += d_gap / static_cast<double>(at_min);
    if (ti == 0 && xi == low_max) g -= d_gap / static_cast<double>(at_max);
    gradient[i * stride] = static_cast<T>(g);
  }
  return loss;
}

// Losses (m) and, when `gradient` is defined, d loss_j / d output_ij into it.
void corrsig_columns(const at::Tensor& output, const at::Tensor& target, at::Tensor& loss,
                     at::Tensor* gradient, const CorrsigParameters& p) {
  const std::int64_t n = output.size(0), m = output.size(1);
  AT_DISPATCH_FLOATING_TYPES(output.scalar_type(), "corrsig", [&] {
    const scalar_t* x = output.data_ptr<scalar_t>();
    const scalar_t* t = target.data_ptr<scalar_t>();
    scalar_t* l = loss.data_ptr<scalar_t>();
    scalar_t* g = gradient ? gradient->data_ptr<scalar_t>() : nullptr;
    for (std::int64_t j = 0; j < m; ++j)
      l[j] = static_cast<scalar_t>(corrsig_column(x + j, t + j, n, m, p, g ? g + j : nullptr));
  });
}

class CorrsigFunction : public torch::autograd::Function<CorrsigFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& output,
                            const at::Tensor& target, const CorrsigParameters& parameters) {
    at::Tensor loss = at::empty({output.size(1)}, output.options());
    at::Tensor gradient = at::empty(output.sizes(), output.options());
    corrsig_columns(output, target, loss, &gradient, parameters);
    context->save_for_backward({gradient});
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grad_outputs) {
    const at::Tensor gradient = context->get_saved_variables()[0];
    return {gradient * grad_outputs[0].unsqueeze(0), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::optional<at::Tensor> corrsig_kernel(const at::Tensor& output, const at::Tensor& target,
                                         const CorrsigParameters& parameters) {
  if (!output.device().is_cpu() || !target.device().is_cpu() || target.requires_grad() ||
      output.dim() != 2 || output.size(0) == 0 ||
      (output.scalar_type() != at::kFloat && output.scalar_type() != at::kDouble) ||
      target.scalar_type() != output.scalar_type())
    return std::nullopt;
  const at::Tensor x = output.contiguous();
  const at::Tensor t = target.contiguous();
  if (at::GradMode::is_enabled() && output.requires_grad())
    return CorrsigFunction::apply(x, t, parameters);
  at::Tensor loss = at::empty({output.size(1)}, output.options());
  corrsig_columns(x, t, loss, nullptr, parameters);
  return loss;
}

}  // namespace brains::algorithms::detail
