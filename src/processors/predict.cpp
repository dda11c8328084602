#include "brains/processors/predict.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <vector>

#include "brains/core/error.h"
#include "brains/core/progress.h"

namespace brains::processors {

at::Tensor predict(ProcessorImpl& processor, const at::Tensor& inputs, std::int64_t batch_size) {
  if (batch_size < 1)
    throw ArgumentError("cannot predict: batch size must be positive, got " +
                        std::to_string(batch_size));
  if (inputs.dim() != 2 || inputs.size(1) != processor.activation_electrode_count())
    throw ArgumentError("cannot predict: inputs must have shape (N, " +
                        std::to_string(processor.activation_electrode_count()) + "), got " +
                        std::to_string(inputs.dim() == 2 ? inputs.size(1) : inputs.dim()) +
                        (inputs.dim() == 2 ? " columns" : " dimension(s)"));
  at::NoGradGuard no_grad;
  const at::Tensor voltages = inputs.to(at::kFloat).contiguous();
  const std::int64_t rows = voltages.size(0);
  std::vector<at::Tensor> outputs;
  ProgressBar progress("predict", rows);
  for (std::int64_t start = 0; start < rows; start += batch_size) {
    const std::int64_t count = std::min(batch_size, rows - start);
    outputs.push_back(processor.forward(voltages.narrow(0, start, count)));
    progress.advance(count);
  }
  if (outputs.empty()) return at::empty({0, processor.readout_electrode_count()}, at::kFloat);
  return at::cat(outputs, 0);
}

}  // namespace brains::processors
