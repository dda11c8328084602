// Training through a frozen surrogate, fused: each evaluation's gradient with respect to
// its electrode voltages is computed alongside its output, chunk by chunk, while the
// chunk's activations are still in cache. Autograd then only multiplies the incoming
// gradient by these saved (M, E) input gradients, instead of storing every layer's
// (M, 90) activations and running the layers backwards over main memory. No weight
// gradients are computed: the fused path applies only when the surrogate's weights are
// frozen (requires_grad false), as DNPU layers make them.
//
// It applies to a `simulation` processor with a static waveform (plateau 1, slope 0), one
// output, float32 CPU inputs and a piecewise-linear activation (relu or hard-tanh): there
// second derivatives vanish almost everywhere, so the saved gradients are exact for
// double backward too. Everything else goes through processor->forward.
//
// Example:
//   at::Tensor y = fusable_surrogate(*processor, x) ? fused_surrogate_forward(*processor, x)
//                                                   : processor->forward(x);
//
// Raises: ArgumentError (NaN or Inf voltages, as Processor::forward).
#pragma once

#include <ATen/core/Tensor.h>

#include "brains/processors/processor.h"

namespace brains::modules {

// Whether fused_surrogate_forward gives processor.forward(x) for x (M, E) here, and is
// worth it (autograd is recording x).
bool fusable_surrogate(const processors::ProcessorImpl& processor, const at::Tensor& x);

// processor.forward(x) for x (M, E) -> (M, 1), differentiable with respect to x, with
// the input gradients computed in the forward pass (spread over at::get_num_threads()).
at::Tensor fused_surrogate_forward(processors::ProcessorImpl& processor, const at::Tensor& x);

}  // namespace brains::modules
