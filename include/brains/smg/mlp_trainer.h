// MlpTrainer: minibatch training of a NeuralNetworkModel with MSE loss and Adam, the inner
// loop of surrogate training (brainspy-smg spec §2.4).
//
// The fused path computes the forward pass, the loss gradient and every layer's weight and
// bias gradients by hand through BLAS (processors/dense_kernels.h), with the minibatch's rows
// split between the calling thread and persistent helper threads, each working on its own
// rows in cache-resident buffers; the per-thread gradients are then summed and Adam updates
// the parameters in place (torch's arithmetic, algorithms::adam_update). No autograd graph,
// no per-op dispatch, no allocation per step. It gives autograd's result within float
// rounding (tested). The autograd path (LibTorch forward/backward, same Adam) is the
// fallback when no BLAS symbol is found, and the reference in tests.
//
// Example:
//   MlpTrainer trainer(model, AdamSettings{1e-3, 0.9, 0.75});
//   for (auto [x, t] : batches) mse = trainer.step(x, t);
//
// Raises: ArgumentError (inputs or targets of the wrong shape or type; bad settings).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "brains/algorithms/adam.h"
#include "brains/io/py_value.h"
#include "brains/processors/neural_network_model.h"

namespace brains::smg {

struct MlpTrainerOptions {
  // Threads sharing each minibatch's rows (caller included); 0: one per core
  // (std::thread::hardware_concurrency). The trainer's own threads, not ATen's pools.
  int threads = 0;
  // false: always LibTorch autograd (for comparisons); true: fused when possible.
  bool fused = true;
};

class MlpTrainer {
 public:
  MlpTrainer(processors::NeuralNetworkModel model, algorithms::AdamSettings adam,
             MlpTrainerOptions options = {});
  ~MlpTrainer();
  MlpTrainer(MlpTrainer&&) noexcept;
  MlpTrainer& operator=(MlpTrainer&&) noexcept;
  MlpTrainer(const MlpTrainer&) = delete;
  MlpTrainer& operator=(const MlpTrainer&) = delete;

  // One Adam step on inputs (B, D_in) and targets (B, D_out), float32 on the CPU; returns the
  // minibatch MSE (mean over rows and outputs) before the step.
  double step(const at::Tensor& inputs, const at::Tensor& targets);

  bool fused() const noexcept;
  int threads() const noexcept;
  std::int64_t steps() const noexcept;
  const processors::NeuralNetworkModel& model() const noexcept;

  // Parameters and Adam state, to keep the best epoch and return to it.
  struct Snapshot {
    std::vector<at::Tensor> parameters, exp_avg, exp_avg_sq;
    std::int64_t steps = 0;
  };
  Snapshot snapshot() const;
  void restore(const Snapshot& snapshot);

  // torch.optim.Adam's state_dict() for `snapshot` (state {i: {step, exp_avg, exp_avg_sq}},
  // param_groups [{lr, betas, eps, …, params}]), as training_data.pt stores it.
  io::PyValue optimizer_state_dict(const Snapshot& snapshot) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brains::smg
