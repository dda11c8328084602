// The inference path of NeuralNetworkModel (internal): a stack of dense layers run over
// cache-sized chunks of rows, with BLAS called directly and the chunks shared between the
// caller and helper tasks on ATen's inter-op pool.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

namespace brains::processors {

struct DenseLayerWeights {
  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out)
};

// (rows, in) -> (rows, out): Linear, activation, …, Linear (no activation after the last).
// `activation` is one of relu, elu, tanh, hard-tanh, sigmoid. Uses up to
// at::get_num_threads() threads; the first call pins OpenBLAS to one thread per call.
// Returns nullopt when it cannot run (no BLAS found, or weights or input that are not
// float32 on the CPU); the caller then uses the module.
std::optional<at::Tensor> dense_inference(const std::vector<DenseLayerWeights>& layers,
                                          const std::string& activation,
                                          const at::Tensor& input);

}  // namespace brains::processors
