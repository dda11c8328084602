// Dense-layer kernels on raw float32 buffers: the BLAS sgemm LibTorch links, bias plus
// activation, and the backward pieces (input gradient, weight gradient, activation
// derivative). Shared by the surrogate inference path (NeuralNetworkModel), the fused DNPU
// surrogate (input gradients) and fused surrogate training (weight gradients), which all run
// one cache-sized chunk of rows through every layer at a time.
//
// Layouts: a "row-major" (rows × width) buffer holds one sample per row; a "feature-major"
// one holds each unit's values for all rows contiguously (column-major rows × width).
// Weights are row-major (out, in), as torch stores them.
//
// Nothing here allocates or throws; callers check blas_sgemm() before using the rest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace brains::processors::kernels {

using Sgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c,
                       const int* ldc);

// The BLAS LibTorch links (OpenBLAS on Debian), found at run time so the reference BLAS works
// too; null for a BLAS without the Fortran symbol. The first call pins OpenBLAS to one thread
// per call for the whole process: callers parallelise over chunks of rows, and OpenBLAS's own
// threads inside theirs would oversubscribe the cores (DESIGN.md).
Sgemm blas_sgemm();

enum class Activation { relu, elu, tanh, hard_tanh, sigmoid };

// brains-py's names: relu, elu, tanh, hard-tanh, sigmoid; anything else is relu (callers
// validate names first).
Activation activation_from_name(const std::string& name);

struct DenseLayer {
  const float* weight;  // (out, in), row-major
  const float* bias;    // (out)
  int in;
  int out;
};

enum class Layout { row_major, feature_major };

// y (rows × out) = x (rows × in) · Wᵀ, without the bias.
void dense_forward(const DenseLayer& layer, const float* x, Layout x_layout, int rows, float* y,
                   Layout y_layout);
inline void dense_forward(const DenseLayer& layer, const float* x, int rows, float* y) {
  dense_forward(layer, x, Layout::row_major, rows, y, Layout::row_major);
}

// Adds the bias to y (rows × out) and applies `activation` in place (none: bias only).
// ReLU and hard-tanh are plain vectorised loops; the others go through ATen's vectorised
// kernels on pieces small enough that ATen runs them inline, not on its OpenMP threads.
void bias_activation(float* y, int rows, const DenseLayer& layer, Layout layout,
                     std::optional<Activation> activation);

// Row-major backward pieces:
// g_in (rows × in) = g_out (rows × out) · W.
void dense_backward_input(const DenseLayer& layer, const float* g_out, int rows, float* g_in);
// dW (out × in) = g_outᵀ · x and db (out) = Σ_rows g_out; with accumulate, added to dW and db.
void dense_backward_weights(const DenseLayer& layer, const float* g_out, const float* x, int rows,
                            float* weight_grad, float* bias_grad, bool accumulate);
// g *= f'(pre-activation) for `count` values, with f' computed from the activation's output
// h as torch's backward does: relu passes where h > 0, hard-tanh where −1 < h < 1, tanh
// scales by 1 − h², sigmoid by h(1 − h), elu (alpha 1) by 1 where h > 0 and h + 1 elsewhere.
void activation_backward(float* g, const float* h, std::int64_t count, Activation activation);

}  // namespace brains::processors::kernels
