// Batched inference over a matrix of electrode voltages, without gradients.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "brains/processors/processor.h"

namespace brains::processors {

// inputs (N, E) in volts (any float dtype) -> outputs (N, n_out) float32 nA, computed in
// batches of `batch_size` rows. Raises ArgumentError for a wrong width or non-finite input.
at::Tensor predict(ProcessorImpl& processor, const at::Tensor& inputs, std::int64_t batch_size);

}  // namespace brains::processors
