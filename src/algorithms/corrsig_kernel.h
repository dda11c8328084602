// corrsig for a whole (n, m) CPU tensor in one pass per column, with its gradient with
// respect to the output computed alongside (gradient descent pays one dispatch per loss
// instead of some seventy small ATen ops forward and backward). Same definition as the
// composite in criteria.cpp: NaN (loss and gradient) for constant columns and for columns
// missing a class; ties at the min/max share the gradient of the gap evenly, as amin/amax
// do. Internals are double.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace brains::algorithms::detail {

struct CorrsigParameters {
  double sigmoid_center;
  double sigmoid_scale;
  double corr_shift;
};

// corrsig per column, or nullopt when the kernel does not apply (not a float/double CPU
// tensor, or a target that requires grad); the caller then uses the composite.
std::optional<at::Tensor> corrsig_kernel(const at::Tensor& output, const at::Tensor& target,
                                         const CorrsigParameters& parameters);

}  // namespace brains::algorithms::detail
