// NeuralNetworkModel: the surrogate network, an MLP built from `model_structure`
// (brains-py spec §3). Parameters are named raw_model.{0,2,4,…}.weight/bias, so state
// dicts from brains-py and brainspy-smg load unchanged.
//
// Raises: ConfigError (bad model_structure values, naming the key path).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "brains/core/config.h"

namespace brains::processors {

struct ModelStructure {
  std::int64_t d_in = 7;
  std::int64_t d_out = 1;
  std::vector<std::int64_t> hidden_sizes = std::vector<std::int64_t>(6, 90);
  std::string activation = "relu";  // relu, elu, tanh, hard-tanh, sigmoid

  // Reads D_in, D_out, hidden_sizes and activation; a missing key takes its default with
  // one warning; a wrong type, a non-positive size or an unknown activation is a ConfigError.
  static ModelStructure from_config(const Config& model_structure);
  // brains-py's keys, for saving in `info`.
  YAML::Node to_yaml() const;
};

class NeuralNetworkModelImpl : public torch::nn::Cloneable<NeuralNetworkModelImpl> {
 public:
  explicit NeuralNetworkModelImpl(ModelStructure structure = {});
  void reset() override;
  // Acts on the last dimension: (…, D_in) -> (…, D_out). When autograd has nothing to
  // record (no_grad, or neither x nor a weight requires grad) float32 CPU inputs take an
  // inference path: cache-sized chunks of rows through all layers, shared between the caller
  // and up to at::get_num_threads() − 1 tasks on ATen's inter-op pool. Its first use pins
  // OpenBLAS to one thread per call for the process. Raises ArgumentError when the last
  // dimension is not D_in.
  at::Tensor forward(const at::Tensor& x);
  // brains::NeuralNetworkModel(D_in=7, hidden_sizes=[90,90,90,90,90,90], D_out=1, activation=relu)
  void pretty_print(std::ostream& stream) const override;
  const ModelStructure& structure() const noexcept { return structure_; }

  torch::nn::Sequential raw_model{nullptr};

 private:
  // True when autograd must record this call: grad mode on, and x or a weight requires grad.
  bool needs_autograd(const at::Tensor& x) const;
  // The inference path of forward().
  at::Tensor infer(const at::Tensor& x);

  ModelStructure structure_;
};
TORCH_MODULE(NeuralNetworkModel);

}  // namespace brains::processors
