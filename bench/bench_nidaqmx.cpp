// What the NI-DAQmx drivers add to a measurement: one measure() of a 7-electrode waveform
// of L samples (AO 5 kHz, AI 10 kHz) against the test build of the library with nothing
// wired but the sync cable, so the time is the driver's (buffer, safety check, chunked
// reads, averaging, spike cut) plus the fake's bookkeeping. Compare it with the
// acquisition time L / 5 kHz the call stands for on hardware.
//
// Run with BRAINS_NIDAQMX_LIBRARY=build/tests/fake_nidaqmx/libnidaqmx.so.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "brains/core/config.h"
#include "brains/core/log.h"
#include "brains/processors/nidaqmx/driver.h"
#include "brains/processors/waveform.h"

namespace {

using brains::processors::nidaqmx::NidaqmxDriver;
using brains::processors::nidaqmx::NidaqSetup;

NidaqSetup setup_for(const std::string& type) {
  const std::string instrument = type == "cdaq_to_cdaq" ? "cDAQ1Mod3" : "Dev1";
  return NidaqSetup::from_config(
      type, brains::Config::parse(
                "amplification: [39.17]\ninverted_output: true\ninstruments_setup:\n"
                "  trigger_source: cDAQ1\n  activation_sampling_frequency: 5000\n  readout_sampling_frequency: 10000\n"
                "  activation_instrument: " + instrument + "\n  activation_channels: [0, 1, 2, 3, 4, 5, 6]\n"
                "  activation_voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]\n"
                "  readout_instrument: cDAQ1Mod4\n  readout_channels: [0]\n"));
}

void BM_Measure(benchmark::State& state, const std::string& type) {
  if (!std::getenv("BRAINS_NIDAQMX_LIBRARY")) {
    state.SkipWithError("set BRAINS_NIDAQMX_LIBRARY to build/tests/fake_nidaqmx/libnidaqmx.so");
    return;
  }
  const auto wiring = std::filesystem::temp_directory_path() / "brains-bench-nidaqmx-wiring.txt";
  std::ofstream(wiring) << "loop ao=Dev1/ao7 ai=cDAQ1Mod4/ai7\n";
  ::setenv("BRAINS_FAKE_NIDAQMX_WIRING", wiring.c_str(), 1);
  ::setenv("BRAINS_FAKE_NIDAQMX_START_DELAY_S", "0", 1);
  brains::log::set_quiet(true);
  NidaqmxDriver driver(setup_for(type));
  const std::int64_t slope = 20;
  const std::int64_t points = std::max<std::int64_t>(1, (state.range(0) - slope) / (10 + slope));
  const at::Tensor voltages = at::rand({points, 7}) * 0.6 - 0.6;
  const at::Tensor wave = brains::processors::Waveform(10, slope).points_to_waveform(voltages).to(at::kDouble);
  for (auto _ : state) {
    at::Tensor y = driver.measure(wave);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["samples"] = static_cast<double>(wave.size(0));
  state.counters["acquisition_s"] = static_cast<double>(wave.size(0)) / 5000.0;
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(wave.size(0)), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_Measure, cdaq_to_cdaq, std::string("cdaq_to_cdaq"))->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Measure, cdaq_to_nidaq, std::string("cdaq_to_nidaq"))->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
