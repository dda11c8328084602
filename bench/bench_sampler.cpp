// Sampler throughput on simulation_debug: a 7 → 5×90 → 1 surrogate behind the hardware path,
// the whole loop per batch (input waves, ramps, safety check, surrogate, IO.dat append with
// fsync, phases, state file). brainspy-smg's template: fs 5000 Hz, 2500 samples per batch with
// 2000-sample ramps on each side (6500 measured, 2500 kept).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "brains/core/config.h"
#include "brains/core/log.h"
#include "brains/smg/sampler.h"
#include "brains/smg/sampling_options.h"

namespace {

namespace fs = std::filesystem;

brains::processors::Processor surrogate_device() {
  at::manual_seed(0);
  const YAML::Node info = YAML::Load(R"(
model_structure: {D_in: 7, D_out: 1, hidden_sizes: [90, 90, 90, 90, 90], activation: relu}
electrode_info:
  electrode_no: 8
  activation_electrodes:
    electrode_no: 7
    voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]
  output_electrodes: {electrode_no: 1, amplification: [28.5], clipping_value: null}
)");
  return brains::processors::Processor(brains::Config::parse("processor_type: simulation_debug\n"), info);
}

void BM_SampleSimulationDebug(benchmark::State& state) {
  const std::int64_t batch_points = state.range(0), ramp_points = state.range(1);
  constexpr std::int64_t kBatches = 20;
  const std::string config_text =
      "data_name: bench\nseed: 1\nplot_interval: 0\ndriver:\n  instruments_setup:\n"
      "    activation_sampling_frequency: 5000\ninput_data:\n  input_distribution: sawtooth\n"
      "  batch_time: " + std::to_string(batch_points / 5000.0) + "\n  ramp_time: " +
      std::to_string(ramp_points / 5000.0) + "\n  number_batches: " + std::to_string(kBatches) + "\n";
  const brains::Config configs = brains::Config::parse(config_text);
  std::string pattern = (fs::temp_directory_path() / "brains-bench-XXXXXX").string();
  const fs::path dir = ::mkdtemp(pattern.data());
  brains::log::set_quiet(true);
  const auto device = surrogate_device();
  double seconds = 0;
  std::int64_t samples = 0;
  for (auto _ : state) {
    brains::smg::SampleRequest request;
    request.out = dir;
    request.progress = false;
    const auto result = brains::smg::sample(configs, device, request);
    seconds += result.seconds;
    samples += result.samples_measured;
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  state.counters["kept samples/s"] = samples / seconds;
  state.counters["measured samples/s"] = samples * static_cast<double>(batch_points + 2 * ramp_points) /
                                         static_cast<double>(batch_points) / seconds;
}
// The measurement alone (waves, ramps, safety check, surrogate) without files: the
// difference to BM_SampleSimulationDebug is what writing the data costs.
void BM_MeasureBatchOnly(benchmark::State& state) {
  const std::int64_t batch_points = state.range(0), ramp_points = state.range(1);
  const std::string config_text =
      "seed: 1\ndriver:\n  instruments_setup:\n    activation_sampling_frequency: 5000\n"
      "input_data:\n  input_distribution: sawtooth\n  batch_time: " + std::to_string(batch_points / 5000.0) +
      "\n  ramp_time: " + std::to_string(ramp_points / 5000.0) + "\n  number_batches: 1000\n";
  brains::log::set_quiet(true);
  auto device = surrogate_device();
  const auto options = brains::smg::SamplingOptions::from_config(brains::Config::parse(config_text), *device);
  std::int64_t k = 0;
  for (auto _ : state) {
    const at::Tensor inputs = options.batch_inputs(k++ % options.number_batches);
    benchmark::DoNotOptimize(brains::smg::measure_batch(*device, inputs, options.ramp_points).data_ptr());
  }
  state.counters["kept samples/s"] =
      benchmark::Counter(static_cast<double>(batch_points), benchmark::Counter::kIsIterationInvariantRate);
}

// brainspy-smg's template batch and ramps; the same batch without ramps.
BENCHMARK(BM_SampleSimulationDebug)->Args({2500, 2000})->Args({2500, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MeasureBatchOnly)->Args({2500, 2000})->Args({2500, 0})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
