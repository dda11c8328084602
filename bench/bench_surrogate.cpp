// Surrogate forward throughput (samples/s) of the default 7 → 5×90 → 1 ReLU model with
// amplification and output clipping, at batch 1, 64, 4096 and 262144, on 1 and 2 threads.
// Goal: ≥ 2M samples/s on 2 cores for every batch ≥ 4096.
//
// BM_ModuleForward is the baseline: the plain torch::nn::Sequential under no_grad, as
// LibTorch runs it out of the box (OpenBLAS with its own threads). It runs first, because
// the first SurrogateModel inference pins OpenBLAS to one thread for the whole process.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "brains/processors/surrogate_model.h"

namespace {

using brains::processors::ModelStructure;
using brains::processors::SurrogateModel;

SurrogateModel default_surrogate() {
  ModelStructure structure;
  structure.hidden_sizes = {90, 90, 90, 90, 90};
  at::manual_seed(0);
  SurrogateModel model(structure);
  model->set_amplification(at::tensor({28.5f}));
  model->set_output_clipping(std::make_pair(-114.0, 114.0));
  return model;
}

void report(benchmark::State& state, std::int64_t batch) {
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ModuleForward(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  SurrogateModel model = default_surrogate();
  const at::Tensor x = at::rand({batch, 7}) * 2 - 1;
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    at::Tensor y = model->model->raw_model->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  report(state, batch);
}

void BM_SurrogateForward(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  SurrogateModel model = default_surrogate();
  const at::Tensor x = at::rand({batch, 7}) * 2 - 1;
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    at::Tensor y = model->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  report(state, batch);
}

// The network alone (no amplification or clipping), to see what the effects cost.
void BM_NetworkForward(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  SurrogateModel model = default_surrogate();
  const at::Tensor x = at::rand({batch, 7}) * 2 - 1;
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    at::Tensor y = model->model->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  report(state, batch);
}

// The autograd path, as used when training control voltages (inputs require grad).
void BM_SurrogateForwardBackward(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  SurrogateModel model = default_surrogate();
  for (auto& parameter : model->parameters()) parameter.requires_grad_(false);
  const at::Tensor x = (at::rand({batch, 7}) * 2 - 1).requires_grad_(true);
  for (auto _ : state) {
    model->forward(x).sum().backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
  }
  report(state, batch);
}

void batches_and_threads(benchmark::internal::Benchmark* benchmark) {
  benchmark->ArgsProduct({{1, 64, 4096, 262144}, {1, 2}})->ArgNames({"batch", "threads"});
  benchmark->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_ModuleForward)->Apply(batches_and_threads);
BENCHMARK(BM_SurrogateForward)->Apply(batches_and_threads);
BENCHMARK(BM_NetworkForward)->ArgsProduct({{262144}, {1, 2}})->ArgNames({"batch", "threads"})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SurrogateForwardBackward)
    ->ArgsProduct({{256, 4096}, {1, 2}})
    ->ArgNames({"batch", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
