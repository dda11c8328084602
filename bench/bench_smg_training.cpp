// Surrogate training throughput (samples/s): the default 7 → 5×90 → 1 ReLU model, minibatch
// 256, MSE, Adam (betas 0.9, 0.75), on 1 and 2 threads. brainspy-smg trains at 69k-97k
// samples/s on this kind of machine. Goal: ≥ 400k samples/s on 2 cores.
//
// BM_LibTorchAutograd is the naive baseline: torch::nn forward, autograd backward and
// torch::optim::Adam, as LibTorch runs out of the box. It runs first, because the first fused
// step pins OpenBLAS to one thread for the whole process. BM_TrainerAutograd is MlpTrainer's
// fallback path (autograd with the in-place Adam); BM_TrainerFused its fused path.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/optim/adam.h>

#include "brains/processors/neural_network_model.h"
#include "brains/smg/mlp_trainer.h"

namespace {

using brains::processors::ModelStructure;
using brains::processors::NeuralNetworkModel;

constexpr std::int64_t kBatch = 256;
constexpr std::int64_t kBatches = 64;  // cycled through, like an epoch's minibatches

NeuralNetworkModel default_model() {
  ModelStructure structure;
  structure.hidden_sizes = {90, 90, 90, 90, 90};
  at::manual_seed(0);
  return NeuralNetworkModel(structure);
}

struct Data {
  at::Tensor inputs, targets;  // (kBatches · kBatch, 7) and (…, 1)
  at::Tensor batch_inputs(std::int64_t i) const { return inputs.narrow(0, (i % kBatches) * kBatch, kBatch); }
  at::Tensor batch_targets(std::int64_t i) const { return targets.narrow(0, (i % kBatches) * kBatch, kBatch); }
};

Data make_data() {
  at::manual_seed(1);
  const at::Tensor x = at::rand({kBatches * kBatch, 7}) * 2 - 1;
  return {x, at::sin(x.sum(1, true)).contiguous()};
}

void report(benchmark::State& state) {
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LibTorchAutograd(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  NeuralNetworkModel model = default_model();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3).betas({0.9, 0.75}));
  const Data data = make_data();
  std::int64_t i = 0;
  for (auto _ : state) {
    adam.zero_grad();
    at::Tensor loss = at::mse_loss(model->raw_model->forward(data.batch_inputs(i)), data.batch_targets(i));
    loss.backward();
    adam.step();
    ++i;
  }
  report(state);
}

void trainer_benchmark(benchmark::State& state, bool fused) {
  const int threads = static_cast<int>(state.range(0));
  at::set_num_threads(threads);
  brains::smg::MlpTrainer trainer(default_model(), brains::algorithms::AdamSettings{1e-3, 0.9, 0.75},
                                  {threads, fused});
  const Data data = make_data();
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(trainer.step(data.batch_inputs(i), data.batch_targets(i)));
    ++i;
  }
  report(state);
}

void BM_TrainerAutograd(benchmark::State& state) { trainer_benchmark(state, false); }
void BM_TrainerFused(benchmark::State& state) { trainer_benchmark(state, true); }

void threads(benchmark::internal::Benchmark* benchmark) {
  benchmark->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_LibTorchAutograd)->Apply(threads);
BENCHMARK(BM_TrainerAutograd)->Apply(threads);
BENCHMARK(BM_TrainerFused)->Apply(threads);

}  // namespace

BENCHMARK_MAIN();
