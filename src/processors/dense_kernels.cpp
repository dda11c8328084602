#include "brains/processors/dense_kernels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>

#include "brains/core/log.h"

namespace brains::processors::kernels {

Sgemm blas_sgemm() {
  static const Sgemm sgemm = [] {
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
      set(1);
      log::debug("OpenBLAS pinned to one thread per call (chunk-parallel dense kernels)");
    }
    return reinterpret_cast<Sgemm>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  }();
  return sgemm;
}

Activation activation_from_name(const std::string& name) {
  if (name == "elu") return Activation::elu;
  if (name == "tanh") return Activation::tanh;
  if (name == "hard-tanh") return Activation::hard_tanh;
  if (name == "sigmoid") return Activation::sigmoid;
  return Activation::relu;
}

// In BLAS's column-major terms a row-major (out, in) W is column-major (in, out), i.e. Wᵀ.
void dense_forward(const DenseLayer& layer, const float* x, Layout x_layout, int rows, float* y,
                   Layout y_layout) {
  const float one = 1.0f, zero = 0.0f;
  const int& in = layer.in;
  const int& out = layer.out;
  const bool x_rows = x_layout == Layout::row_major;
  if (y_layout == Layout::feature_major)  // y (rows, out) = op(x) · Wᵀ
    blas_sgemm()(x_rows ? "T" : "N", "N", &rows, &out, &in, &one, x, x_rows ? &in : &rows,
                 layer.weight, &in, &zero, y, &rows);
  else  // yᵀ (out, rows) = W · op(x)ᵀ
    blas_sgemm()("T", x_rows ? "N" : "T", &out, &rows, &in, &one, layer.weight, &in, x,
                 x_rows ? &in : &rows, &zero, y, &out);
}

namespace {

template <typename F>
void add_bias(float* y, int rows, const DenseLayer& layer, Layout layout, F f) {
  if (layout == Layout::feature_major) {
    for (int j = 0; j < layer.out; ++j, y += rows) {
      const float bias = layer.bias[j];
      for (int r = 0; r < rows; ++r) y[r] = f(y[r] + bias);
    }
  } else {
    for (int r = 0; r < rows; ++r, y += layer.out)
      for (int j = 0; j < layer.out; ++j) y[j] = f(y[j] + layer.bias[j]);
  }
}

}  // namespace

void bias_activation(float* y, int rows, const DenseLayer& layer, Layout layout,
                     std::optional<Activation> activation) {
  if (activation == Activation::relu)
    return add_bias(y, rows, layer, layout, [](float v) { return std::max(v, 0.0f); });
  if (activation == Activation::hard_tanh)
    return add_bias(y, rows, layer, layout,
                    [](float v) { return std::min(std::max(v, -1.0f), 1.0f); });
  add_bias(y, rows, layer, layout, [](float v) { return v; });
  if (!activation) return;
  const std::int64_t total = static_cast<std::int64_t>(rows) * layer.out;
  for (std::int64_t start = 0; start < total; start += at::internal::GRAIN_SIZE) {
    at::Tensor piece =
        at::from_blob(y + start, {std::min(at::internal::GRAIN_SIZE, total - start)}, at::kFloat);
    if (*activation == Activation::elu) at::elu_(piece);
    else if (*activation == Activation::tanh) at::tanh_(piece);
    else at::sigmoid_(piece);
  }
}

// g_inᵀ (in, rows) = Wᵀ (in, out) · g_outᵀ (out, rows), column-major.
void dense_backward_input(const DenseLayer& layer, const float* g_out, int rows, float* g_in) {
  const float one = 1.0f, zero = 0.0f;
  blas_sgemm()("N", "N", &layer.in, &rows, &layer.out, &one, layer.weight, &layer.in, g_out,
               &layer.out, &zero, g_in, &layer.in);
}

// dWᵀ (in, out) = xᵀ (in, rows) · g_out (rows, out), column-major.
void dense_backward_weights(const DenseLayer& layer, const float* g_out, const float* x, int rows,
                            float* weight_grad, float* bias_grad, bool accumulate) {
  const float one = 1.0f;
  const float beta = accumulate ? 1.0f : 0.0f;
  blas_sgemm()("N", "T", &layer.in, &layer.out, &rows, &one, x, &layer.in, g_out, &layer.out,
               &beta, weight_grad, &layer.in);
  const int out = layer.out;
  if (!accumulate) std::fill(bias_grad, bias_grad + out, 0.0f);
  for (int r = 0; r < rows; ++r, g_out += out)
    for (int j = 0; j < out; ++j) bias_grad[j] += g_out[j];
}

void activation_backward(float* g, const float* h, std::int64_t count, Activation activation) {
  switch (activation) {
    case Activation::relu:
      for (std::int64_t i = 0; i < count; ++i) g[i] = h[i] > 0.0f ? g[i] : 0.0f;
      break;
    case Activation::hard_tanh:
      for (std::int64_t i = 0; i < count; ++i) g[i] = (h[i] > -1.0f && h[i] < 1.0f) ? g[i] : 0.0f;
      break;
    case Activation::tanh:
      for (std::int64_t i = 0; i < count; ++i) g[i] *= 1.0f - h[i] * h[i];
      break;
    case Activation::sigmoid:
      for (std::int64_t i = 0; i < count; ++i) g[i] *= h[i] * (1.0f - h[i]);
      break;
    case Activation::elu:
      for (std::int64_t i = 0; i < count; ++i) g[i] *= h[i] > 0.0f ? 1.0f : h[i] + 1.0f;
      break;
  }
}

}  // namespace brains::processors::kernels
