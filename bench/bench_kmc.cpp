// Speed and noise of the KMC virtual device (virtual-device.md "Performance" and "Noise and
// speed of a measurement").
//
// BM_Hops/<preset>: hops per second on one core (CPU time) at random control voltages in
//   [−1, 1] V, the output electrode (the last) at 0 V. Goals: ≥ 1e7 (small), ≥ 3e6 (default);
//   anchor: kmc_dn ~6e4 hops/s on 30 acceptors. Measured (AMD EPYC, AVX-512 kernels, shared
//   and busy 2-core machine, medians of 3 runs of 3 repetitions): small 2.9e6 → 4.2e6,
//   default 1.34e6 → 1.36e6 hops/s before → after the 8-wide, length-bucketed pass (the
//   default preset's gain, ~1.2x in quieter runs, is within this machine's noise).
// BM_Noise/<preset>/<hops per sample>: a quasi-static measurement as the virtual driver makes
//   it. "rel_noise" is the standard deviation of the output current over 16 repeated samples
//   at fixed voltages (occupation carried over, 4 voltage sets averaged) divided by the output
//   range (max − min of the mean output over 16 random voltage sets); "samples/s" is the
//   throughput of a 64-sample random waveform on 2 threads (chunks of 32 samples, each with
//   its warm-up), real time.
//
// Run: build/bench/bench_kmc [--benchmark_filter=Hops]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "brains/physics/kmc.h"

namespace {

using namespace brains::physics;

constexpr int kOutput = 7;  // the readout electrode, held at 0 V

std::shared_ptr<const HoppingModel> model_for(int preset) {
  static const auto small = HoppingModel::create(DeviceParameters::preset("small"));
  static const auto standard = HoppingModel::create(DeviceParameters::preset("default"));
  return preset == 0 ? small : standard;
}

std::vector<double> random_voltages(std::uint64_t index) {
  Rng rng(2024, "bench.voltages", index);
  std::vector<double> v(8);
  for (double& x : v) x = 2 * rng.uniform() - 1;
  v[kOutput] = 0;
  return v;
}

void BM_Hops(benchmark::State& state) {
  const auto model = model_for(static_cast<int>(state.range(0)));
  KmcOptions options;
  options.blocks = 1;
  KmcSimulation simulation(model, 1, 0, options);
  const auto v = random_voltages(0);
  simulation.simulate(v, 0, 50000);
  const std::int64_t hops = 100000;
  std::int64_t done = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(simulation.simulate(v, hops).current_na.data());
    done += hops;
  }
  state.counters["hops/s"] = benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  const Occupation occupation = simulation.occupation();
  state.counters["holes"] = static_cast<double>(std::count(occupation.begin(), occupation.end(), 1));
  state.SetLabel(state.range(0) == 0 ? "small (30 acceptors)" : "default (200 acceptors)");
}
BENCHMARK(BM_Hops)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Noise(benchmark::State& state) {
  const auto model = model_for(static_cast<int>(state.range(0)));
  const std::int64_t hops_per_sample = state.range(1);
  KmcOptions options;
  options.hops_per_sample = hops_per_sample;
  options.blocks = 1;
  double relative_noise = 0, range = 0, noise = 0, samples_per_s = 0;
  for (auto _ : state) {
    // Output range over random voltage sets (means of 10 samples each).
    std::vector<std::vector<double>> sets;
    for (int s = 0; s < 16; ++s) sets.push_back(random_voltages(100 + s));
    const auto means = simulate_independent(model, sets, 10 * hops_per_sample, 7, 2, options);
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& m : means) {
      lo = std::min(lo, m.current_na[kOutput]);
      hi = std::max(hi, m.current_na[kOutput]);
    }
    range = hi - lo;
    // Repeated samples at fixed voltages, state carried over.
    std::vector<std::vector<double>> waveform;
    for (int s = 0; s < 4; ++s)
      for (int repeat = 0; repeat < 16; ++repeat) waveform.push_back(sets[s]);
    const auto samples = simulate_waveform(model, waveform, 16, 8, 2, options);
    noise = 0;
    for (int s = 0; s < 4; ++s) {
      double mean = 0, ss = 0;
      for (int r = 0; r < 16; ++r) mean += samples[s * 16 + r].current_na[kOutput] / 16;
      for (int r = 0; r < 16; ++r) ss += std::pow(samples[s * 16 + r].current_na[kOutput] - mean, 2);
      noise += std::sqrt(ss / 15) / 4;
    }
    relative_noise = noise / range;
    // Throughput of a random waveform on 2 threads.
    std::vector<std::vector<double>> random_waveform;
    for (int s = 0; s < 64; ++s) random_waveform.push_back(random_voltages(1000 + s));
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(simulate_waveform(model, random_waveform, 32, 9, 2, options).data());
    samples_per_s = 64 / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["rel_noise"] = relative_noise;
  state.counters["range_nA"] = range;
  state.counters["noise_nA"] = noise;
  state.counters["samples/s"] = samples_per_s;
  state.SetLabel(state.range(0) == 0 ? "small" : "default");
}
BENCHMARK(BM_Noise)
    ->ArgsProduct({{0, 1}, {1000, 3000, 5000, 10000, 30000}})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
