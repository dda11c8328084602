// DNPUBatchNorm: a DNPU layer followed by batch normalisation over its nodes (brains-py
// spec §8.1). The default options are brains-py's: no affine scale/shift, running
// statistics tracked with momentum 0.1, eps 1e-5. In training mode the batch statistics
// normalise (and update the running ones); in eval mode the running statistics do.
// State-dict keys match brains-py: the DNPU's, plus bn.running_mean, bn.running_var,
// bn.num_batches_tracked (and bn.weight, bn.bias when affine).
//
// Example:
//   DNPUBatchNorm layer(processor, DNPUBatchNormOptions({{3, 4}, {1, 6}}).momentum(0.2));
//   layer->add_input_transform({0.0, 1.0});
//   at::Tensor y = layer->forward(x);                  // x (B, 4) -> y (B, 2), normalised
//   auto logged = layer->logged_outputs();             // c_dnpu_output, d_batch_norm_output
//
// Raises: ArgumentError (as DNPU; eps <= 0, momentum outside [0, 1]).
#pragma once

#include <torch/nn/modules/batchnorm.h>

#include <map>
#include <string>

#include "brains/modules/dnpu.h"

namespace brains::modules {

struct DNPUBatchNormOptions {
  /* implicit */ DNPUBatchNormOptions(IndexLists data_input_indices)
      : dnpu_(std::move(data_input_indices)) {}
  /* implicit */ DNPUBatchNormOptions(DNPUOptions dnpu) : dnpu_(std::move(dnpu)) {}
  // The DNPU layer: indices, forward pass, seed.
  TORCH_ARG(DNPUOptions, dnpu);
  // Learnable per-node scale and shift after normalising.
  TORCH_ARG(bool, affine) = false;
  // Keep running mean/variance for eval mode; without them eval uses batch statistics.
  TORCH_ARG(bool, track_running_stats) = true;
  // running = (1 − momentum)·running + momentum·batch statistic.
  TORCH_ARG(double, momentum) = 0.1;
  TORCH_ARG(double, eps) = 1e-5;
};

class DNPUBatchNormImpl : public DNPUImpl {
 public:
  DNPUBatchNormImpl(processors::Processor processor, DNPUBatchNormOptions options);

  // (B, nodes·n_in) -> (B, nodes), normalised per node.
  at::Tensor forward(const at::Tensor& x);

  // The last forward's DNPU output (before) and normalised output (after), as brains-py's
  // get_logged_variables: {"c_dnpu_output", "d_batch_norm_output"}, detached clones.
  // Empty before the first forward.
  std::map<std::string, at::Tensor> logged_outputs() const;

  torch::nn::BatchNorm1d batch_norm() const { return bn_; }
  const DNPUBatchNormOptions& batch_norm_options() const { return bn_options_; }

  // brains::DNPUBatchNorm(nodes=2, inputs=[[3,4],[1,6]], forward=vec, affine=false, …)
  void pretty_print(std::ostream& stream) const override;

 private:
  DNPUBatchNormOptions bn_options_;
  torch::nn::BatchNorm1d bn_{nullptr};
  at::Tensor dnpu_output_;
  at::Tensor batch_norm_output_;
};
TORCH_MODULE(DNPUBatchNorm);

}  // namespace brains::modules
