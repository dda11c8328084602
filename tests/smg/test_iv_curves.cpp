// IV curves (brainspy-smg §1.8–1.9, §2.6) on simulation_debug (exact: the surrogate behind
// the hardware path) and on the virtual device (small preset, few hops).
#include "brains/smg/iv_curves.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "support/fixture_surrogate.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

using ::testing::HasSubstr;

std::vector<double> values(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

processors::Processor debug_processor(int plateau, int slope) {
  const std::string text = "processor_type: simulation_debug\nwaveform: {plateau_length: " + std::to_string(plateau) +
                           ", slope_length: " + std::to_string(slope) + "}\n";
  return processors::Processor(Config::parse(text), testing::fixture_info(), testing::fixture_state_dict());
}

const char* const kVirtualSmall =
    "processor_type: virtual\n"
    "waveform: {plateau_length: 1, slope_length: 0}\n"
    "driver:\n"
    "  seed: 2\n"
    "  device: {preset: small}\n"
    "  kmc: {hops_per_sample: 2000, warmup_hops: 5000}\n"
    "  voltage_ranges: [-1.0, 1.0]\n";

TEST(SweepSignal, TriangleUpGoesToMaxThenMinAndBackWithExactlyThePointsAsked) {
  for (const std::int64_t points : {7, 10, 11, 100, 1000}) {
    const auto v = values(sweep_signal(-0.7, 0.3, points, SweepDirection::up));
    ASSERT_EQ(static_cast<std::int64_t>(v.size()), points);  // upstream: 11 for (−0.7, 0.3, 10)
    EXPECT_EQ(v.front(), 0.0);
    EXPECT_EQ(v.back(), 0.0);
    const auto max_at = std::max_element(v.begin(), v.end()) - v.begin();
    const auto min_at = std::min_element(v.begin(), v.end()) - v.begin();
    EXPECT_LT(max_at, min_at);
    EXPECT_LE(*std::max_element(v.begin(), v.end()), 0.3);
    EXPECT_GE(*std::min_element(v.begin(), v.end()), -0.7);
    // Equal steps along the path: 2·(max − min) / (points − 1).
    const double step = 2 * 1.0 / static_cast<double>(points - 1);
    for (std::size_t i = 1; i < v.size(); ++i) EXPECT_LE(std::abs(v[i] - v[i - 1]), step + 1e-12);
  }
  // With a grid that lands on the ends, the extremes are reached exactly.
  const auto v = values(sweep_signal(-1.0, 0.5, 13, SweepDirection::up));
  EXPECT_EQ(v, (std::vector<double>{0, 0.25, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1.0, -0.75, -0.5, -0.25, 0}));
}

TEST(SweepSignal, DownIsTheMirrorImageInTime) {
  // 'down' goes to min first; upstream's 'down' string still went up (§6.1.2).
  const auto down = values(sweep_signal(-1.0, 0.5, 13, SweepDirection::down));
  EXPECT_EQ(down, (std::vector<double>{0, -0.25, -0.5, -0.75, -1.0, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.25, 0}));
}

TEST(SweepSignal, SineStartsAtZeroWithARampAndReachesBothEnds) {
  const auto v = values(sweep_signal(-1.2, 0.6, 401, SweepDirection::up, SweepSignal::sine));
  EXPECT_EQ(v.front(), 0.0);
  EXPECT_EQ(v.back(), 0.0);
  EXPECT_NEAR(v[100], 0.6, 1e-12);   // quarter period: max
  EXPECT_NEAR(v[300], -1.2, 1e-12);  // three quarters: min
  EXPECT_LT(std::abs(v[1]), 0.02);    // no jump from 0 V
}

TEST(SweepSignal, RejectsRangesWithoutZeroAndTooFewPoints) {
  EXPECT_THROW(sweep_signal(0.1, 0.5, 10, SweepDirection::up), ArgumentError);
  EXPECT_THROW(sweep_signal(0.5, -0.5, 10, SweepDirection::up), ArgumentError);
  EXPECT_THROW(sweep_signal(-0.5, 0.5, 2, SweepDirection::up), ArgumentError);
}

TEST(IvOptions, ReadsBrainspySmgKeys) {
  const auto options = IvOptions::from_config(Config::parse(
      "shape: 200\ninput_signal: {input_signal_type: sawtooth, direction: down, time_in_seconds: 5}\n"
      "electrodes: [0, 3]\n"));
  EXPECT_EQ(options.points, 200);
  EXPECT_EQ(options.signal, SweepSignal::triangle);
  EXPECT_EQ(options.direction, SweepDirection::down);
  EXPECT_EQ(options.electrodes, (std::vector<std::int64_t>{0, 3}));
  const auto key_of = [](const std::string& yaml) {
    try {
      IvOptions::from_config(Config::parse(yaml));
    } catch (const ConfigError& e) {
      return e.key_path();
    }
    return std::string("no error");
  };
  EXPECT_EQ(key_of("input_signal: {direction: sideways}\n"), "input_signal.direction");
  EXPECT_EQ(key_of("input_signal: {input_signal_type: square}\n"), "input_signal.input_signal_type");
  EXPECT_EQ(key_of("shape: 2\n"), "shape");
  EXPECT_EQ(key_of("points: 1\n"), "points");
}

TEST(IvCurves, OnSimulationDebugEachSweepIsTheSurrogatesOutputForItsInputs) {
  processors::Processor hardware = debug_processor(2, 1);
  IvOptions options;
  options.points = 60;
  const IvResult result = measure_iv_curves(*hardware, options);
  ASSERT_EQ(result.electrodes.size(), 7u);
  ASSERT_EQ(result.inputs.sizes(), (at::IntArrayRef{7, 60, 7}));
  ASSERT_EQ(result.outputs.sizes(), (at::IntArrayRef{7, 60, 1}));

  processors::Processor simulation = testing::fixture_processor();
  const at::Tensor ranges = testing::fixture_voltage_ranges().to(at::kDouble);
  for (std::int64_t s = 0; s < 7; ++s) {
    const at::Tensor inputs = result.inputs[s];
    // Only electrode s moves, within its range, 0 → max → min → 0.
    EXPECT_EQ(inputs.abs().sum(0).nonzero().numel(), 1);
    const at::Tensor swept = inputs.select(1, s);
    EXPECT_TRUE(at::allclose(swept, sweep_signal(ranges[s][0].item<double>(), ranges[s][1].item<double>(), 60,
                                                 SweepDirection::up)
                                        .to(at::kFloat)
                                        .to(at::kDouble)));
    // The surrogate's output for the same points: the hardware path changes nothing with a
    // noiseless surrogate (plateau samples are equal, ramps are masked out).
    const at::Tensor expected = simulation->forward(inputs.to(at::kFloat)).to(at::kDouble);
    // Float32 networks evaluated in batches of different sizes: within float32 tolerance.
    EXPECT_TRUE(at::allclose(result.outputs[s], expected, 1e-5, 1e-5))
        << "electrode " << s << ": " << (result.outputs[s] - expected).abs().max().item<double>();
  }
}

TEST(IvCurves, SubsetOfElectrodesAndNarrowerRanges) {
  processors::Processor hardware = debug_processor(1, 1);
  IvOptions options;
  options.points = 31;  // steps of 2·0.75 / 30 = 0.05 V land on both ends
  options.electrodes = {5};
  options.direction = SweepDirection::down;
  at::Tensor ranges = testing::fixture_voltage_ranges().to(at::kDouble).clone();
  ranges[5][0] = -0.5;
  ranges[5][1] = 0.25;
  options.voltage_ranges = ranges;
  const IvResult result = measure_iv_curves(*hardware, options);
  ASSERT_EQ(result.outputs.sizes(), (at::IntArrayRef{1, 31, 1}));
  const at::Tensor swept = result.inputs[0].select(1, 5);
  EXPECT_NEAR(swept.min().item<double>(), -0.5, 1e-6);
  EXPECT_NEAR(swept.max().item<double>(), 0.25, 1e-6);
  EXPECT_LT(swept.argmin().item<std::int64_t>(), swept.argmax().item<std::int64_t>());  // down first

  options.electrodes = {7};
  try {
    measure_iv_curves(*hardware, options);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "electrodes[0]");
  }
  options.electrodes = {};
  ranges[2][1] = 0.9;  // beyond the surrogate's 0.6 V
  options.voltage_ranges = ranges;
  try {
    measure_iv_curves(*hardware, options);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "voltage_ranges[2]");
  }
}

TEST(IvCurves, OnTheVirtualDeviceCurrentsFollowTheSweptVoltage) {
  processors::Processor processor(Config::parse(kVirtualSmall));
  IvOptions options;
  options.points = 41;
  options.electrodes = {0, 2, 6};
  const IvResult result = measure_iv_curves(*processor, options);
  ASSERT_EQ(result.outputs.sizes(), (at::IntArrayRef{3, 41, 1}));
  for (std::int64_t s = 0; s < 3; ++s) {
    const at::Tensor v = result.inputs[s].select(1, result.electrodes[static_cast<std::size_t>(s)]);
    const at::Tensor i = result.outputs[s].select(1, 0);
    // Holes flow from the driven electrode to the grounded readout: the current rises with
    // the voltage (the KMC noise is small at 2000 hops on the small device).
    const double correlation =
        ((v - v.mean()) * (i - i.mean())).sum().item<double>() /
        std::sqrt(((v - v.mean()).pow(2).sum() * (i - i.mean()).pow(2).sum()).item<double>());
    EXPECT_GT(correlation, 0.8) << "electrode " << result.electrodes[static_cast<std::size_t>(s)];
    // At 0 V everywhere (first and last points) the current is close to zero.
    EXPECT_LT(std::abs(i[0].item<double>()), 0.2 * (i.max() - i.min()).item<double>());
  }
}

TEST(IvCurves, WritesNpzPlotAndSummary) {
  processors::Processor hardware = debug_processor(1, 0);
  IvOptions options;
  options.points = 30;
  const IvResult result = measure_iv_curves(*hardware, options);
  testing::TempDir dir;
  write_iv_result(dir.path(), result, Config::parse("shape: 30\n"));
  const auto npz = io::read_npz(dir / "iv_curves.npz");
  EXPECT_TRUE(at::equal(npz.tensor("inputs"), result.inputs));
  EXPECT_TRUE(at::equal(npz.tensor("outputs"), result.outputs));
  EXPECT_EQ(npz.tensor("electrodes").numel(), 7);
  EXPECT_TRUE(std::filesystem::exists(dir / "iv_curves.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir / "config.yaml"));
  std::ifstream in(dir / "summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["points"], 30);
  EXPECT_EQ(summary["direction"], "up");
  EXPECT_EQ(summary["sweeps"].size(), 7u);
  // 7 sweeps + the inputs panel: upstream's 2 × 4 grid.
  EXPECT_EQ(grid_shape(8), (std::pair<int, int>{2, 4}));
  EXPECT_EQ(grid_shape(3), (std::pair<int, int>{1, 3}));
  EXPECT_EQ(grid_shape(9), (std::pair<int, int>{3, 3}));
  EXPECT_EQ(grid_shape(17), (std::pair<int, int>{4, 5}));
}

TEST(IvCurves, CommandLineOnTheVirtualDevice) {
  testing::TempDir dir;
  const auto config = dir.write("iv.yaml", std::string(kVirtualSmall) +
                                               "shape: 20\ninput_signal: {input_signal_type: triangle, direction: up}\n"
                                               "electrodes: [1, 4]\n");
  const auto result = testing::run_brains("iv --config '" + config.string() + "' --out '" + (dir / "out").string() +
                                          "' --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("electrode 1:"));
  EXPECT_THAT(result.out, HasSubstr("electrode 4:"));
  std::filesystem::path run;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "out")) run = entry.path();
  const auto npz = io::read_npz(run / "iv_curves.npz");
  EXPECT_EQ(npz.tensor("outputs").sizes(), (at::IntArrayRef{2, 20, 1}));

  // A range beyond the safe limit: a config error, nothing simulated.
  const auto bad = dir.write("bad.yaml", "processor_type: virtual\ndriver: {voltage_ranges: [-1.8, 1.0]}\n");
  const auto refused = testing::run_brains("iv --config '" + bad.string() + "' --out '" + (dir / "out2").string() + "'");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("driver.voltage_ranges[0]"));
}

}  // namespace
}  // namespace brains::smg
