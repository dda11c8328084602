// Whole training runs of the algorithms on brains-py's boolean task (XOR, 4 points, inputs on
// electrodes 3 and 4) with a 7 → 5×90 → 1 ReLU surrogate (random weights, amplification
// 28.5), against brains-py 1.0.2 on the same setup:
//   GA  partition [4, 22], 100 generations, plateau 1    brains-py 1.80 s   goal ≤ 60 ms
//   GA  partition [4, 22], 100 generations, plateau 80   brains-py 3.68 s   goal ≤ 120 ms
//   GD  Adam lr 0.01, 400 epochs, regul, plateau 1       brains-py 0.61 s   goal ≤ 60 ms
// Measured: GD 136 ms (4.5x; 219 ms before the fused surrogate and corrsig kernel), the rest
// of an epoch being the autograd backward of the DNPU graph (~130 µs of ~280 µs).
// Each iteration is one full run; s_per_run is its wall-clock time and x_brains_py how many
// times faster than brains-py it is. BM_GradientDescentPieces splits a GD epoch into its parts.
// The processors run with average_plateaus = false, as brainspy-tasks' boolean model does
// (the criterion sees every plateau sample).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <chrono>

#include "brains/algorithms/adam.h"
#include "brains/algorithms/criteria.h"
#include "brains/algorithms/genetic.h"
#include "brains/algorithms/gradient_descent.h"
#include "brains/core/log.h"
#include "brains/modules/dnpu.h"

namespace {

using namespace brains;

YAML::Node default_info() {
  return YAML::Load(R"(
model_structure: {D_in: 7, D_out: 1, hidden_sizes: [90, 90, 90, 90, 90], activation: relu}
electrode_info:
  electrode_no: 8
  activation_electrodes:
    electrode_no: 7
    voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]
  output_electrodes: {electrode_no: 1, amplification: [28.5], clipping_value: null}
)");
}

modules::DNPU boolean_dnpu(int plateau_length) {
  at::manual_seed(0);  // the surrogate's random weights
  const Config configs = Config::parse(
      "processor_type: simulation\nwaveform: {plateau_length: " + std::to_string(plateau_length) +
      ", slope_length: " + std::to_string(plateau_length > 1 ? 10 : 0) + "}\n");
  processors::Processor processor(configs, default_info(), std::nullopt,
                                  /*average_plateaus=*/false);
  modules::DNPU dnpu(processor, modules::DNPUOptions({{3, 4}}).seed(1));
  dnpu->add_input_transform({-1.0, 1.0});
  return dnpu;
}

const at::Tensor& xor_inputs() {
  static const at::Tensor x =
      at::tensor({-0.5f, -0.5f, -0.5f, 1.0f, 1.0f, -0.5f, 1.0f, 1.0f}).view({4, 2});
  return x;
}
const at::Tensor& xor_targets() {
  static const at::Tensor t = at::tensor({0.0f, 1.0f, 1.0f, 0.0f}).view({4, 1});
  return t;
}

// Seconds per run (wall clock) and the speed-up over brains-py's time for the same run.
class Report {
 public:
  explicit Report(double brains_py_seconds) : brains_py_seconds_(brains_py_seconds) {}
  void start() { started_ = std::chrono::steady_clock::now(); }
  void stop() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  void write(benchmark::State& state) const {
    const double seconds = total_ / static_cast<double>(state.iterations());
    state.counters["s_per_run"] = seconds;
    state.counters["brains_py_s"] = brains_py_seconds_;
    state.counters["x_brains_py"] = brains_py_seconds_ / seconds;
  }

 private:
  double brains_py_seconds_;
  double total_ = 0;
  std::chrono::steady_clock::time_point started_;
};

void BM_GeneticXor(benchmark::State& state) {
  const int plateau = static_cast<int>(state.range(0));
  at::set_num_threads(static_cast<int>(state.range(1)));
  log::set_quiet(true);
  modules::DNPU dnpu = boolean_dnpu(plateau);
  const auto options =
      algorithms::GeneticOptions().partition({4, 22}).generations(100).progress(false);
  const auto& fitness = algorithms::criterion("corrsig_fit");
  Report report(plateau == 1 ? 1.80 : 3.68);
  for (auto _ : state) {
    report.start();
    auto result = algorithms::train_genetic(*dnpu, xor_inputs(), xor_targets(), fitness, options);
    report.stop();
    benchmark::DoNotOptimize(result.best_fitness);
  }
  report.write(state);
}

void BM_GradientDescentXor(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  log::set_quiet(true);
  modules::DNPU dnpu = boolean_dnpu(static_cast<int>(state.range(0)));
  const at::Tensor start = dnpu->control_voltages();
  const auto options = algorithms::GradientDescentOptions()
                           .epochs(400)
                           .learning_rate(0.01)
                           .constraint("regul")
                           .progress(false);
  const auto forward = [&dnpu](const at::Tensor& x) { return dnpu->forward(x); };
  Report report(0.61);
  for (auto _ : state) {
    dnpu->set_control_voltages(start);
    report.start();
    auto result =
        algorithms::train_gradient_descent(*dnpu, forward, {xor_inputs(), xor_targets()},
                                           std::nullopt, algorithms::criterion("corrsig"), options);
    report.stop();
    benchmark::DoNotOptimize(result.best_loss);
  }
  report.write(state);
}

// Where a GD epoch goes (µs per epoch), cumulatively: 0 forward, 1 + corrsig, 2 + DNPU
// regularizer, 3 + backward, 4 + Adam step (an epoch without the loop's bookkeeping).
void BM_GradientDescentPieces(benchmark::State& state) {
  at::set_num_threads(1);
  log::set_quiet(true);
  modules::DNPU dnpu = boolean_dnpu(1);
  algorithms::Adam adam({dnpu->control_voltages_parameter()}, algorithms::AdamSettings{0.01});
  const auto& loss = algorithms::criterion("corrsig");
  const int stage = static_cast<int>(state.range(0));
  for (auto _ : state) {
    adam.zero_grad();
    at::Tensor total = dnpu->forward(xor_inputs());
    if (stage >= 1) total = loss.fn(total, xor_targets()).mean();
    if (stage >= 2) total = total + dnpu->regularizer();
    if (stage >= 3) total.backward();
    if (stage >= 4) adam.step();
    benchmark::DoNotOptimize(total.data_ptr());
  }
}

BENCHMARK(BM_GradientDescentPieces)
    ->DenseRange(0, 4)
    ->ArgNames({"stage"})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GeneticXor)
    ->ArgsProduct({{1, 80}, {1, 2}})
    ->ArgNames({"plateau", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GradientDescentXor)
    ->ArgsProduct({{1}, {1, 2}})
    ->ArgNames({"plateau", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
