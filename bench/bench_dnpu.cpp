// DNPU layers on the default surrogate (7 → 5×90 → 1 ReLU, random weights).
//
// BM_DNPUConv2dTrainStep: forward + backward of a DNPUConv2d over a batch of 64
// single-channel 28×28 images, 6 output channels, 3×3 kernel as 3 nodes of inputs [2,3,4],
// input transform [0, 1]: 64·26·26·6·3 = 779k surrogate evaluations per batch.
// brains-py: 10.3 images/s on this machine; goal ≥ 31 images/s. fused:0 records the
// surrogate's layers for autograd (the plain path), fused:1 computes input gradients in the
// forward pass (fused_surrogate.h).
//
// BM_DNPUForward: a 3-node DNPU layer, batch 4096, under no_grad (samples/s).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "brains/modules/dnpu.h"
#include "brains/modules/dnpu_conv2d.h"

namespace {

using brains::Config;
using brains::modules::DNPU;
using brains::modules::DNPUConv2d;
using brains::modules::DNPUConv2dOptions;
using brains::modules::DNPUOptions;
using brains::processors::Processor;

Processor default_processor() {
  const YAML::Node info = YAML::Load(
      "model_structure: {D_in: 7, D_out: 1, hidden_sizes: [90, 90, 90, 90, 90], activation: relu}\n"
      "electrode_info:\n  electrode_no: 8\n  activation_electrodes:\n    electrode_no: 7\n"
      "    voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]\n"
      "  output_electrodes: {electrode_no: 1, amplification: [1], clipping_value: null}\n");
  at::manual_seed(0);
  return Processor(Config::parse("processor_type: simulation\n"), info);
}

void BM_DNPUConv2dTrainStep(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  constexpr std::int64_t kBatch = 64;
  DNPUConv2d conv(default_processor(), DNPUConv2dOptions({{2, 3, 4}, {2, 3, 4}, {2, 3, 4}}, 1, 6, 3)
                                           .fused_surrogate(state.range(1) != 0)
                                           .seed(1));
  conv->add_input_transform({0.0, 1.0});
  const at::Tensor images = at::rand({kBatch, 1, 28, 28});
  for (auto _ : state) {
    conv->control_voltages_parameter().mutable_grad() = at::Tensor();
    conv->forward(images).square().mean().backward();
    benchmark::DoNotOptimize(conv->control_voltages_parameter().grad().data_ptr());
  }
  state.counters["images/s"] =
      benchmark::Counter(kBatch, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DNPUForward(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  constexpr std::int64_t kBatch = 4096;
  DNPU dnpu(default_processor(), DNPUOptions({{3, 4}, {1, 6}, {0, 2}}).seed(1));
  dnpu->add_input_transform({0.0, 1.0});
  const at::Tensor inputs = at::rand({kBatch, 6});
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    const at::Tensor y = dnpu->forward(inputs);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["samples/s"] =
      benchmark::Counter(kBatch, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_DNPUConv2dTrainStep)
    ->ArgNames({"threads", "fused"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0);
BENCHMARK(BM_DNPUForward)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
