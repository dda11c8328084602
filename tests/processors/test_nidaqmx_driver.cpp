// The NI-DAQmx drivers against the test build of the library (tests/fake_nidaqmx): both
// setups measure the simulated device sample by sample, timing and synchronisation follow
// the rates, every injected fault and interrupt leaves no task open and the outputs at 0 V
// without a jump, and no sample outside the safe envelope ever reaches the library (a
// property test over random setups and inputs). Also multiple devices and `brains predict`.
#include "brains/processors/nidaqmx/driver.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <random>
#include <sstream>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/io/npz.h"
#include "brains/processors/processor.h"
#include "brains/processors/waveform.h"
#include "fake_nidaqmx/control.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::processors::nidaqmx {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeNidaqmx;

// One DNPU on a bench: outputs on cDAQ1Mod3 (cdaq_to_cdaq) or a separate board Dev1
// (cdaq_to_nidaq), readout on cDAQ1Mod4/ai0, the sync cable Dev1/ao7 -> cDAQ1Mod4/ai7.
struct Bench {
  std::string type = "cdaq_to_cdaq";
  std::vector<int> channels{4, 0, 2};
  std::vector<std::pair<double, double>> ranges{{-1.2, 0.6}, {-0.7, 0.3}, {-1.0, 1.0}};
  std::int64_t activation_hz = 500;
  std::int64_t readout_hz = 1000;
  double gain = 39.17;
  bool inverted = true;
  std::string driver_extra;  // YAML lines for the driver section

  std::string activation_instrument() const { return type == "cdaq_to_cdaq" ? "cDAQ1Mod3" : "Dev1"; }
  std::vector<std::string> outputs() const {
    std::vector<std::string> names;
    for (int channel : channels) names.push_back(activation_instrument() + "/ao" + std::to_string(channel));
    return names;
  }
  // Every output channel the driver may drive (with the sync channel).
  std::vector<std::string> all_outputs() const {
    auto names = outputs();
    if (type == "cdaq_to_nidaq") names.push_back("Dev1/ao7");
    return names;
  }
  std::string wiring() const {
    std::string line = "dnpu ao=";
    for (const auto& name : outputs()) line += name + (name == outputs().back() ? "" : ",");
    line += " ai=cDAQ1Mod4/ai0 gain=" + std::to_string(gain) + " inverting=" + (inverted ? "1" : "0") + " model=builtin\n";
    if (type == "cdaq_to_nidaq") line += "loop ao=Dev1/ao7 ai=cDAQ1Mod4/ai7\n";
    return line;
  }
  std::string driver_yaml() const {
    std::ostringstream out;
    out << "driver:\n  instrument_type: " << type << "\n  amplification: [" << gain << "]\n  inverted_output: "
        << (inverted ? "true" : "false") << "\n";
    std::istringstream extra(driver_extra);
    for (std::string line; std::getline(extra, line);) out << "  " << line << "\n";
    out << "  instruments_setup:\n    multiple_devices: false\n    trigger_source: cDAQ1\n"
        << "    average_io_point_difference: true\n    activation_sampling_frequency: " << activation_hz
        << "\n    readout_sampling_frequency: " << readout_hz << "\n    activation_instrument: "
        << activation_instrument() << "\n    activation_channels: [";
    for (std::size_t i = 0; i < channels.size(); ++i) out << (i ? ", " : "") << channels[i];
    out << "]\n    activation_voltage_ranges: [";
    for (std::size_t i = 0; i < ranges.size(); ++i)
      out << (i ? ", " : "") << "[" << ranges[i].first << ", " << ranges[i].second << "]";
    out << "]\n    readout_instrument: cDAQ1Mod4\n    readout_channels: [0]\n";
    return out.str();
  }
  Config processor_config(int plateau, int slope) const {
    return Config::parse("processor_type: " + type + "\nwaveform: {plateau_length: " + std::to_string(plateau) +
                         ", slope_length: " + std::to_string(slope) + "}\n" + driver_yaml());
  }
  NidaqSetup setup() const { return NidaqSetup::from_config(type, Config::parse(driver_yaml()).at("driver")); }
  at::Tensor voltage_ranges() const {
    at::Tensor out = at::empty({static_cast<std::int64_t>(ranges.size()), 2}, at::kDouble);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      out[static_cast<std::int64_t>(i)][0] = ranges[i].first;
      out[static_cast<std::int64_t>(i)][1] = ranges[i].second;
    }
    return out;
  }
};

// Uniform points within the ranges, (n, E) float64.
at::Tensor random_points(const Bench& bench, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  at::Tensor points = at::empty({n, static_cast<std::int64_t>(bench.ranges.size())}, at::kDouble);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::size_t e = 0; e < bench.ranges.size(); ++e)
      points[i][static_cast<std::int64_t>(e)] =
          std::uniform_real_distribution<double>(bench.ranges[e].first, bench.ranges[e].second)(rng);
  return points;
}

at::Tensor waveform_of(const at::Tensor& points, int plateau, int slope) {
  return Waveform(plateau, slope).points_to_waveform(points).to(at::kDouble);
}

// The device function of the fake on every row: (L, E) -> (L, 1) nA.
at::Tensor device_currents(const FakeNidaqmx& fake, const at::Tensor& volts, int device = 0) {
  const at::Tensor v = volts.to(at::kDouble).contiguous();
  std::vector<double> out;
  std::int64_t outputs = 0;
  for (std::int64_t i = 0; i < v.size(0); ++i) {
    const double* row = v.data_ptr<double>() + i * v.size(1);
    const auto currents = fake.device_current(device, std::vector<double>(row, row + v.size(1)));
    outputs = static_cast<std::int64_t>(currents.size());
    out.insert(out.end(), currents.begin(), currents.end());
  }
  return at::tensor(out, at::kDouble).view({v.size(0), outputs});
}

void expect_near(const at::Tensor& actual, const at::Tensor& expected, double tolerance) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LE((actual.to(at::kDouble) - expected).abs().max().item<double>(), tolerance);
}

// The state every fault and interrupt must leave: no task, every output at 0 V, and no
// output ever moved by more than `step` V at once after the timed writes.
void expect_safe_rest(const FakeNidaqmx& fake, const Bench& bench, double step = 0.02) {
  EXPECT_EQ(fake.open_tasks(), 0);
  for (const auto& name : bench.all_outputs()) EXPECT_EQ(fake.level(name), 0.0) << name;
  for (const auto& write : fake.writes()) {
    if (write.timed) continue;
    for (std::size_t c = 0; c < write.channels.size(); ++c)
      EXPECT_LE(std::abs(write.at(c, 0) - write.previous[c]), step + 1e-12)
          << write.channels[c] << " jumped from " << write.previous[c] << " to " << write.at(c, 0);
  }
}

std::string one_line(const std::exception& e) {
  const std::string message = e.what();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

// ---------------------------------------------------------------------------------------

struct Rates {
  const char* type;
  std::int64_t activation_hz;
  std::int64_t readout_hz;
};

class NidaqmxBothSetups : public ::testing::TestWithParam<Rates> {};

TEST_P(NidaqmxBothSetups, MeasureTheDeviceSampleBySample) {
  FakeNidaqmx fake;
  Bench bench;
  bench.type = GetParam().type;
  bench.activation_hz = GetParam().activation_hz;
  bench.readout_hz = GetParam().readout_hz;
  fake.wire(bench.wiring());
  const at::Tensor points = random_points(bench, 30, 1);
  const at::Tensor wave = waveform_of(points, 4, 3);
  {
    NidaqmxDriver driver(bench.setup());
    EXPECT_EQ(fake.open_tasks(), 2);
    // Every sample, ramps included: the offset, the spike cut, the averaging, the gain and
    // the inversion all have to be right for this to hold.
    const at::Tensor measured = driver.measure(wave);
    expect_near(measured, device_currents(fake, wave), 1e-9);
    if (bench.type == "cdaq_to_nidaq") EXPECT_EQ(driver.last_sync_attempts(), 1);
    // A second waveform of another length re-times the tasks.
    const at::Tensor shorter = waveform_of(points.narrow(0, 0, 7), 2, 1);
    expect_near(driver.measure(shorter), device_currents(fake, shorter), 1e-9);
    expect_near(driver.measure(wave), device_currents(fake, wave), 1e-9);
  }
  EXPECT_EQ(fake.open_tasks(), 0);
  for (const auto& name : bench.all_outputs()) EXPECT_EQ(fake.level(name), 0.0);

  // Through Processor: plateaus averaged, ramps masked.
  Processor processor(bench.processor_config(4, 3));
  EXPECT_TRUE(processor->is_hardware());
  EXPECT_EQ(processor->activation_electrode_count(), 3);
  expect_near(processor->forward(points.to(at::kFloat)), device_currents(fake, points.to(at::kFloat)), 1e-4);
  processor->close();
  EXPECT_EQ(fake.open_tasks(), 0);
}

INSTANTIATE_TEST_SUITE_P(Rates, NidaqmxBothSetups,
                         ::testing::Values(Rates{"cdaq_to_cdaq", 500, 1000}, Rates{"cdaq_to_cdaq", 1000, 1000},
                                           Rates{"cdaq_to_cdaq", 200, 600}, Rates{"cdaq_to_nidaq", 500, 1000},
                                           Rates{"cdaq_to_nidaq", 1000, 1000}, Rates{"cdaq_to_nidaq", 500, 2000}),
                         [](const auto& info) {
                           return std::string(info.param.type) + "_" + std::to_string(info.param.activation_hz) +
                                  "_" + std::to_string(info.param.readout_hz);
                         });

TEST(NidaqmxDriver, EachReadoutHasItsOwnGainAndTheSyncRowNone) {
  // Two readouts, gains 39.17 and 78.34 nA/V behind one amplifier of 39.17: the second
  // reads twice its current. brains-py multiplied the sync row by the gains too, which
  // broke with more than one readout (§15.30).
  for (const std::string type : {"cdaq_to_cdaq", "cdaq_to_nidaq"}) {
    SCOPED_TRACE(type);
    FakeNidaqmx fake;
    Bench bench;
    bench.type = type;
    std::string wiring = bench.wiring();
    wiring.replace(wiring.find("ai=cDAQ1Mod4/ai0"), 16, "ai=cDAQ1Mod4/ai0,cDAQ1Mod4/ai1");
    fake.wire(wiring);
    std::string yaml = bench.driver_yaml();
    yaml.replace(yaml.find("amplification: [39.17]"), 22, "amplification: [39.17, 78.34]");
    yaml.replace(yaml.find("readout_channels: [0]"), 21, "readout_channels: [0, 1]");
    NidaqmxDriver driver(NidaqSetup::from_config(type, Config::parse(yaml).at("driver")));
    const at::Tensor wave = waveform_of(random_points(bench, 20, 16), 3, 3);
    const at::Tensor expected = device_currents(fake, wave) * at::tensor({1.0, 2.0}, at::kDouble);
    expect_near(driver.measure(wave), expected, 1e-9);
  }
}

TEST(NidaqmxDriver, UnalignedStartMixesNeighbouringSamplesOnly) {
  // The readout starts 1.7 output samples after the outputs: every averaged pair of readout
  // samples straddles two written samples, and the spike is split over two groups. The cut
  // keeps the first, so each current is the mean of the device at the previous and at the
  // current sample: brains-py's sync recipe is exact only to one written sample.
  FakeNidaqmx fake;
  Bench bench;
  bench.type = "cdaq_to_nidaq";
  fake.set("BRAINS_FAKE_NIDAQMX_START_DELAY_S", "0.0034");
  fake.wire(bench.wiring());
  NidaqmxDriver driver(bench.setup());
  const at::Tensor wave = waveform_of(random_points(bench, 20, 2), 3, 2);
  const at::Tensor exact = device_currents(fake, wave);
  const at::Tensor before = at::cat({device_currents(fake, at::zeros({1, 3}, at::kDouble)), exact.narrow(0, 0, exact.size(0) - 1)});
  expect_near(driver.measure(wave), (before + exact) / 2, 1e-9);
}

TEST(NidaqmxDriver, SaturatedReadoutsReachTheClippingValue) {
  // A gain of 2 nA/V with the ±5 V input range reports at most ±10 nA; the builtin device
  // gives up to ~60 nA, so the input saturates.
  FakeNidaqmx fake;
  Bench bench;
  bench.gain = 2;
  fake.wire(bench.wiring());
  NidaqmxDriver driver(bench.setup());
  EXPECT_TRUE(at::equal(driver.clipping_value(), at::tensor({-10.0f, 10.0f})));
  const at::Tensor wave = waveform_of(random_points(bench, 30, 15), 3, 3);
  const at::Tensor measured = driver.measure(wave);
  expect_near(measured, device_currents(fake, wave).clamp(-10, 10), 1e-9);
  EXPECT_GT((measured.abs() == 10).sum().item<std::int64_t>(), 0);
}

TEST(NidaqmxDriver, TimeoutsAreSecondsFromRatesAndReadsComeInChunks) {
  FakeNidaqmx fake;
  Bench bench;
  bench.activation_hz = 1000;
  bench.readout_hz = 2000;
  bench.driver_extra = "read_chunk_s: 0.1\ntimeout_margin_s: 0.5\n";
  fake.wire(bench.wiring());
  NidaqmxDriver driver(bench.setup());
  const at::Tensor wave = waveform_of(random_points(bench, 40, 3), 8, 2);  // 40·8 + 41·2 = 402
  ASSERT_EQ(wave.size(0), 402);
  driver.measure(wave);
  // 2·402 + 1 readout samples in chunks of 200: 5 reads, each allowed what is left of
  // 805 / 2000 s + 0.5 s (brains-py allowed ceil(402·2) + 10 = 814 "seconds").
  const auto timeouts = fake.read_timeouts();
  ASSERT_EQ(timeouts.size(), 5u);
  for (double timeout : timeouts) {
    EXPECT_LE(timeout, 805.0 / 2000 + 0.5 + 1e-9);
    EXPECT_GT(timeout, 0.5);
  }
  EXPECT_NEAR(timeouts.front(), 805.0 / 2000 + 0.5, 0.05);

  // No margin: still enough when the device keeps its rate.
  bench.driver_extra = "timeout_margin_s: 0\n";
  NidaqmxDriver tight(bench.setup());
  expect_near(tight.measure(wave), device_currents(fake, wave), 1e-9);
}

// ---------------------------------------------------------------------------------------
// Faults

struct FaultCase {
  const char* type;
  const char* fault;
  long long at;
  long long count;
  const char* message;
};

class NidaqmxFaults : public ::testing::TestWithParam<FaultCase> {};

TEST_P(NidaqmxFaults, GiveOneLineHardwareErrorsAndLeaveTheOutputsAtZero) {
  const FaultCase& c = GetParam();
  FakeNidaqmx fake;
  Bench bench;
  bench.type = c.type;
  bench.driver_extra = "read_chunk_s: 0.02\n";  // 20 samples: faults can strike mid-waveform
  fake.wire(bench.wiring());
  fake.inject(c.fault, c.at, c.count);
  NidaqmxDriver driver(bench.setup());
  const at::Tensor wave = waveform_of(random_points(bench, 40, 4), 5, 5);
  try {
    driver.measure(wave);
    FAIL() << "no error for " << c.fault;
  } catch (const HardwareError& e) {
    const std::string message = one_line(e);
    EXPECT_THAT(message, HasSubstr(c.message));
    EXPECT_THAT(message, HasSubstr("outputs ramped to 0 V and tasks cleared"));
  }
  EXPECT_FALSE(driver.has_open_tasks());
  expect_safe_rest(fake, bench);
  // The fault was transient: the next measurement opens new tasks and is right.
  expect_near(driver.measure(wave), device_currents(fake, wave), 1e-9);
  driver.close();
  expect_safe_rest(fake, bench);
}

INSTANTIATE_TEST_SUITE_P(
    Injected, NidaqmxFaults,
    ::testing::Values(FaultCase{"cdaq_to_cdaq", "read_timeout", 1, 1, "NI-DAQmx error -200474"},
                      FaultCase{"cdaq_to_cdaq", "read_timeout", 3, 1, "NI-DAQmx error -200474"},
                      FaultCase{"cdaq_to_nidaq", "read_timeout", 4, 1, "NI-DAQmx error -200474"},
                      FaultCase{"cdaq_to_cdaq", "short_read", 1, 1, "the library returned 10 (samples done: 0 of"},
                      FaultCase{"cdaq_to_nidaq", "short_read", 5, 1, "the library returned 10 (samples done: 80 of"},
                      FaultCase{"cdaq_to_cdaq", "write_error", 1, 1, "NI-DAQmx error -50103"},
                      FaultCase{"cdaq_to_nidaq", "write_error", 1, 1, "NI-DAQmx error -50103"},
                      FaultCase{"cdaq_to_cdaq", "start_error", 2, 1, "cannot start (task 'readout_task_"},
                      FaultCase{"cdaq_to_nidaq", "start_error", 1, 1, "cannot start (task 'activation_task_"},
                      FaultCase{"cdaq_to_nidaq", "missing_spike", 1, 5,
                                "no spike on cDAQ1Mod4/ai7 (largest 0 V < 0.05 V) in each of 5 attempts"},
                      FaultCase{"cdaq_to_nidaq", "late_spike", 1, 5, "too late to leave 405 data samples"}),
    [](const auto& info) {
      return std::string(info.param.type) + "_" + info.param.fault + "_at_" + std::to_string(info.param.at);
    });

TEST(NidaqmxDriver, MidWaveformFaultRampsDownFromWhereTheOutputsStopped) {
  FakeNidaqmx fake;
  Bench bench;
  bench.ranges = {{-1.5, 1.5}, {-1.5, 1.5}, {-1.5, 1.5}};
  bench.driver_extra = "read_chunk_s: 0.02\nshutdown_step_v: 0.05\n";
  fake.wire(bench.wiring());
  fake.inject("short_read", 4, 1);  // returns at once, 40 output samples into 255
  NidaqmxDriver driver(bench.setup());
  const at::Tensor points = at::full({10, 3}, 1.4, at::kDouble);
  EXPECT_THROW(driver.measure(waveform_of(points, 20, 5)), HardwareError);
  // The outputs were on the 1.4 V plateau; they came down in steps of at most 0.05 V.
  const auto writes = fake.writes();
  std::vector<FakeNidaqmx::Write> ramp;
  for (const auto& write : writes)
    if (!write.timed) ramp.push_back(write);
  const auto steps = static_cast<std::size_t>(std::ceil(1.4 / 0.05));
  ASSERT_EQ(ramp.size(), steps);
  EXPECT_NEAR(ramp.front().previous[0], 1.4, 1e-12);
  EXPECT_NEAR(ramp.front().at(0, 0), 1.4 * (1 - 1.0 / static_cast<double>(steps)), 1e-12);
  EXPECT_EQ(ramp.back().at(0, 0), 0.0);
  expect_safe_rest(fake, bench, 0.05);
}

TEST(NidaqmxDriver, RetriesWhenTheSpikeComesLate) {
  FakeNidaqmx fake;
  Bench bench;
  bench.type = "cdaq_to_nidaq";
  fake.wire(bench.wiring());
  fake.inject("late_spike", 1, 2);  // the first two acquisitions start late
  NidaqmxDriver driver(bench.setup());
  const at::Tensor wave = waveform_of(random_points(bench, 12, 5), 3, 3);
  expect_near(driver.measure(wave), device_currents(fake, wave), 1e-9);
  EXPECT_EQ(driver.last_sync_attempts(), 3);
}

TEST(NidaqmxDriver, InterruptStopsRampsDownAndClears) {
  FakeNidaqmx fake;
  Bench bench;
  bench.driver_extra = "read_chunk_s: 0.02\n";
  fake.wire(bench.wiring());
  fake.inject("signal", 3, 1);  // SIGINT arrives during the third read
  NidaqmxDriver driver(bench.setup());
  const at::Tensor wave = waveform_of(random_points(bench, 40, 6), 5, 5);
  try {
    driver.measure(wave);
    FAIL() << "not interrupted";
  } catch (const InterruptedError& e) {
    EXPECT_THAT(one_line(e), HasSubstr("measurement interrupted after 60 of"));
    EXPECT_THAT(e.what(), HasSubstr("outputs ramped to 0 V and tasks cleared"));
  }
  expect_safe_rest(fake, bench);
  // Still pending: the next measurement writes nothing.
  const auto writes = fake.writes().size();
  EXPECT_THROW(driver.measure(wave), InterruptedError);
  EXPECT_EQ(fake.writes().size(), writes);
  clear_interrupt();
  expect_near(driver.measure(wave), device_currents(fake, wave), 1e-9);
}

TEST(NidaqmxDriver, SetupErrorsSurfaceAtConstructionOrFirstStart) {
  FakeNidaqmx fake;
  Bench bench;
  fake.wire(bench.wiring());
  // A channel the instrument does not have: the tasks created so far are cleared.
  Bench wrong = bench;
  wrong.channels = {4, 0, 40};
  try {
    NidaqmxDriver driver(wrong.setup());
    FAIL();
  } catch (const DaqmxError& e) {
    EXPECT_THAT(one_line(e), HasSubstr("cannot add output channel cDAQ1Mod3/ao40 [-1.01, 1.01] V (task 'activation_task_"));
    EXPECT_THAT(e.what(), HasSubstr("Physical channel specified does not exist"));
  }
  EXPECT_EQ(fake.open_tasks(), 0);
  // A start trigger from another chassis cannot reach the outputs.
  Bench elsewhere = bench;
  elsewhere.driver_extra = "";
  NidaqSetup setup = elsewhere.setup();
  setup.trigger_source = "cDAQ9";
  NidaqmxDriver driver(setup);
  try {
    driver.measure(waveform_of(random_points(bench, 3, 7), 2, 2));
    FAIL();
  } catch (const DaqmxError& e) {
    EXPECT_EQ(e.code(), -89136);
    EXPECT_THAT(one_line(e), HasSubstr("/cDAQ9/ai/StartTrigger"));
  }
  expect_safe_rest(fake, bench);
}

TEST(NidaqmxDriver, UnsafeWaveformsAreRefusedBeforeAnyWrite) {
  FakeNidaqmx fake;
  Bench bench;
  bench.driver_extra = "max_step_v: 0.3\n";
  fake.wire(bench.wiring());
  NidaqmxDriver driver(bench.setup());
  const at::Tensor good = waveform_of(random_points(bench, 5, 8), 2, 8);
  driver.measure(good);
  const auto writes = fake.writes().size();
  at::Tensor not_zero_at_end = good.clone();
  not_zero_at_end[-1][0] = 0.1;
  at::Tensor out_of_range = good.clone();
  out_of_range[3][1] = 0.31;  // range [-0.7, 0.3]
  at::Tensor steep = at::zeros({5, 3}, at::kDouble);
  steep[2][2] = 0.5;
  for (const auto& wave : {not_zero_at_end, out_of_range, steep}) {
    EXPECT_THROW(driver.measure(wave), SafetyError);
    EXPECT_EQ(fake.writes().size(), writes);
  }
  EXPECT_THROW(driver.measure(at::zeros({5, 2}, at::kDouble)), ArgumentError);
  EXPECT_TRUE(driver.has_open_tasks());  // a refusal is not a fault: the tasks stay
  EXPECT_EQ(driver.measure(at::zeros({0, 3}, at::kDouble)).sizes(), (at::IntArrayRef{0, 1}));
}

TEST(NidaqmxDriver, ResetOnCloseIsConfigurable) {
  FakeNidaqmx fake;
  Bench bench;
  fake.wire(bench.wiring());
  {
    NidaqmxDriver driver(bench.setup());
  }
  EXPECT_EQ(fake.resets("cDAQ1Mod3"), 0);
  bench.driver_extra = "reset_on_close: true\n";
  {
    NidaqmxDriver driver(bench.setup());
    driver.close();
    driver.close();  // idempotent
  }
  EXPECT_EQ(fake.resets("cDAQ1Mod3"), 1);
  EXPECT_EQ(fake.resets("cDAQ1Mod4"), 1);
  EXPECT_EQ(fake.open_tasks(), 0);
}

TEST(NidaqmxDriver, MultipleDevicesAreMeasuredAtOnceAndMasksRespected) {
  FakeNidaqmx fake;
  // Devices A (channels 0-3 of cDAQ1Mod1, channel 1 masked) and B (cDAQ1Mod2, all driven);
  // C is masked out entirely. Each device sees only its driven electrodes.
  fake.wire("dnpu ao=cDAQ1Mod1/ao0,cDAQ1Mod1/ao2,cDAQ1Mod1/ao3 ai=cDAQ1Mod4/ai0 gain=28.5 inverting=0 model=builtin\n"
            "dnpu ao=cDAQ1Mod2/ao5,cDAQ1Mod2/ao6 ai=cDAQ1Mod4/ai3 gain=28.5 inverting=0 model=builtin\n");
  const std::string setup =
      "driver:\n  amplification: [28.5]\n  instruments_setup:\n    multiple_devices: true\n"
      "    trigger_source: cDAQ1\n    activation_sampling_frequency: 1000\n    readout_sampling_frequency: 2000\n"
      "    A: {activation_instrument: cDAQ1Mod1, activation_channels: [0, 1, 2, 3], activation_channel_mask: [1, 0, 1, 1],\n"
      "        activation_voltage_ranges: [[-1, 1], [-1, 1], [-0.5, 0.5], [-1, 1]], readout_instrument: cDAQ1Mod4, readout_channels: [0]}\n"
      "    B: {activation_instrument: cDAQ1Mod2, activation_channels: [5, 6], activation_channel_mask: [1, 1],\n"
      "        activation_voltage_ranges: [[-1, 1], [-1, 1]], readout_instrument: cDAQ1Mod4, readout_channels: [3]}\n"
      "    C: {activation_instrument: cDAQ1Mod3, activation_channels: [0], activation_channel_mask: [0],\n"
      "        activation_voltage_ranges: [[-1, 1]], readout_instrument: cDAQ1Mod4, readout_channels: [5]}\n";
  NidaqmxDriver driver(NidaqSetup::from_config("cdaq_to_cdaq", Config::parse(setup).at("driver")));
  EXPECT_EQ(driver.activation_electrode_count(), 5);
  EXPECT_EQ(driver.readout_electrode_count(), 2);
  Bench five;
  five.ranges.assign(5, {-0.5, 0.5});
  const at::Tensor points = random_points(five, 15, 9);
  const at::Tensor wave = waveform_of(points, 3, 4);
  const at::Tensor measured = driver.measure(wave);
  expect_near(measured.narrow(1, 0, 1), device_currents(fake, wave.narrow(1, 0, 3), 0), 1e-9);
  expect_near(measured.narrow(1, 1, 1), device_currents(fake, wave.narrow(1, 3, 2), 1), 1e-9);
  for (const auto& write : fake.writes())
    for (const auto& channel : write.channels) {
      EXPECT_NE(channel, "cDAQ1Mod1/ao1");
      EXPECT_NE(channel, "cDAQ1Mod3/ao0");
    }
}

// ---------------------------------------------------------------------------------------
// Property: over random setups and inputs, the library never receives a sample outside
// the configured ranges or the absolute limit, every timed waveform starts and ends at
// 0 V (and keeps the largest step when one is set), a refusal writes nothing, and
// accepted measurements are right.

TEST(NidaqmxDriver, NothingUnsafeEverReachesTheLibrary) {
  FakeNidaqmx fake;
  fake.set("BRAINS_FAKE_NIDAQMX_START_DELAY_S", "0");
  std::mt19937_64 rng(2024);
  const auto uniform = [&rng](double low, double high) { return std::uniform_real_distribution<double>(low, high)(rng); };
  const auto pick = [&rng](std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
  };
  std::int64_t refused = 0, measured = 0, checked_writes = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Bench bench;
    bench.type = pick(0, 1) ? "cdaq_to_nidaq" : "cdaq_to_cdaq";
    const std::int64_t electrodes = pick(1, 7);
    std::vector<int> pool{0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    std::shuffle(pool.begin(), pool.end(), rng);
    bench.channels.assign(pool.begin(), pool.begin() + electrodes);
    const double limit = pick(0, 1) ? 1.6 : std::round(uniform(0.5, 1.6) * 100) / 100;
    bench.ranges.clear();
    for (std::int64_t e = 0; e < electrodes; ++e)
      bench.ranges.emplace_back(-std::round(uniform(0, limit) * 100) / 100, std::round(uniform(0, limit) * 100) / 100);
    const std::int64_t rates[] = {100, 200, 500, 1000};
    bench.activation_hz = rates[pick(0, 3)];
    bench.readout_hz = bench.activation_hz * pick(1, 3);
    bench.gain = std::round(uniform(20, 60));
    bench.inverted = pick(0, 1) == 1;
    std::optional<double> max_step;
    if (pick(0, 1)) max_step = std::round(uniform(0.05, 0.5) * 100) / 100;
    bench.driver_extra = "voltage_limit_v: " + std::to_string(limit) + "\n" +
                         (max_step ? "max_step_v: " + std::to_string(*max_step) + "\n" : "");
    const int plateau = static_cast<int>(pick(1, 6));
    const int slope = static_cast<int>(pick(1, 12));
    fake.wire(bench.wiring());
    SCOPED_TRACE(bench.driver_yaml() + "plateau " + std::to_string(plateau) + " slope " + std::to_string(slope));

    {
      Processor processor(bench.processor_config(plateau, slope));
      for (int call = 0; call < 3; ++call) {
        // Points up to 0.3 V beyond the ranges, some of the time.
        const double spill = pick(0, 2) == 0 ? 0.3 : 0.0;
        at::Tensor points = at::empty({pick(1, 12), electrodes}, at::kDouble);
        for (std::int64_t i = 0; i < points.size(0); ++i)
          for (std::int64_t e = 0; e < electrodes; ++e)
            points[i][e] = uniform(bench.ranges[e].first - spill, bench.ranges[e].second + spill);
        const auto before = fake.writes().size();
        try {
          const at::Tensor out = processor->forward(points.to(at::kFloat));
          expect_near(out, device_currents(fake, points.to(at::kFloat)), 1e-4);
          ++measured;
        } catch (const SafetyError&) {
          EXPECT_EQ(fake.writes().size(), before);
          ++refused;
        }
        // Raw waveforms straight to the driver: random walks that may leave the envelope.
        at::Tensor raw = at::zeros({pick(2, 40), electrodes}, at::kDouble);
        for (std::int64_t i = 1; i + 1 < raw.size(0); ++i)
          for (std::int64_t e = 0; e < electrodes; ++e) raw[i][e] = raw[i - 1][e].item<double>() + uniform(-0.4, 0.4);
        const auto before_raw = fake.writes().size();
        try {
          auto& driver = dynamic_cast<NidaqmxDriver&>(
              dynamic_cast<HardwareProcessorImpl&>(*processor->named_children()["processor"]).driver());
          driver.measure(raw);
        } catch (const SafetyError&) {
          EXPECT_EQ(fake.writes().size(), before_raw);
          ++refused;
        }
      }
    }
    EXPECT_EQ(fake.open_tasks(), 0);
    for (const auto& name : bench.all_outputs()) EXPECT_EQ(fake.level(name), 0.0);

    // Every channel the library was given: limits within the absolute limit and around the range.
    const auto outputs = bench.outputs();
    for (const auto& channel : fake.channels()) {
      if (!channel.output || channel.name == "Dev1/ao7") continue;
      const auto e = std::find(outputs.begin(), outputs.end(), channel.name) - outputs.begin();
      ASSERT_LT(e, electrodes) << channel.name;
      EXPECT_GE(channel.min, -limit);
      EXPECT_LE(channel.max, limit);
      EXPECT_LE(channel.min, bench.ranges[e].first);
      EXPECT_GE(channel.max, bench.ranges[e].second);
    }
    // Every sample the library received.
    for (const auto& write : fake.writes()) {
      for (std::size_t c = 0; c < write.channels.size(); ++c) {
        if (write.channels[c] == "Dev1/ao7") {
          for (long long i = 0; i < write.samples; ++i) EXPECT_TRUE(write.at(c, i) == 0.0 || write.at(c, i) == 1.0);
          continue;
        }
        const auto e = std::find(outputs.begin(), outputs.end(), write.channels[c]) - outputs.begin();
        ASSERT_LT(e, electrodes);
        for (long long i = 0; i < write.samples; ++i) {
          const double v = write.at(c, i);
          EXPECT_GE(v, bench.ranges[e].first - 1e-6);
          EXPECT_LE(v, bench.ranges[e].second + 1e-6);
          EXPECT_LE(std::abs(v), limit + 1e-12);
          if (max_step && i > 0) EXPECT_LE(std::abs(v - write.at(c, i - 1)), *max_step + 1e-6);
        }
        if (write.timed) {
          EXPECT_EQ(write.at(c, 0), 0.0);
          EXPECT_EQ(write.at(c, write.samples - 1), 0.0);
        }
      }
      ++checked_writes;
    }
  }
  std::cout << "property: " << measured << " measurements, " << refused << " refusals, " << checked_writes
            << " writes checked\n";
  EXPECT_GT(measured, 40);
  EXPECT_GT(refused, 20);
}

// ---------------------------------------------------------------------------------------
// The command line

struct CliBench {
  FakeNidaqmx fake;
  Bench bench;
  testing::TempDir dir;
  std::string environment;

  explicit CliBench(const std::string& extra_env = "") {
    bench.driver_extra = "read_chunk_s: 0.05\n";
    const auto wiring = dir.write("wiring.txt", bench.wiring());
    dir.write("processor.yaml", bench.processor_config(10, 5).dump());
    environment = "BRAINS_NIDAQMX_LIBRARY='" + std::string(BRAINS_FAKE_NIDAQMX) + "' BRAINS_FAKE_NIDAQMX_WIRING='" +
                  wiring.string() + "' BRAINS_FAKE_NIDAQMX_RECORD='" + (dir / "record.txt").string() + "' " + extra_env;
  }
  testing::CommandResult predict(const at::Tensor& points, const std::string& prefix = "") {
    io::write_npz(dir / "in.npz", std::vector<std::pair<std::string, at::Tensor>>{{"inputs", points.to(at::kFloat)}});
    return testing::run_command(prefix + environment + " '" + BRAINS_CLI + "' predict --quiet --input '" +
                                (dir / "in.npz").string() + "' --output '" + (dir / "out.npz").string() +
                                "' --config '" + (dir / "processor.yaml").string() + "'");
  }
  std::string record() const {
    std::ifstream in(dir / "record.txt");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // The end of the record: no open task, every output level 0; and every sample the
  // library received within its electrode's range, timed waveforms from and to 0 V.
  void expect_safe_exit() const {
    const std::string text = record();
    EXPECT_THAT(text, HasSubstr("exit open_tasks=0\n"));
    for (const auto& name : bench.all_outputs()) EXPECT_THAT(text, HasSubstr("level " + name + " 0\n"));
    std::istringstream lines(text);
    std::int64_t samples = 0;
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string word, task, kind, channel;
      words >> word >> task >> kind >> channel;
      if (word != "write") continue;
      const auto outputs = bench.outputs();
      const auto e = std::find(outputs.begin(), outputs.end(), channel) - outputs.begin();
      ASSERT_LT(e, static_cast<std::ptrdiff_t>(outputs.size())) << channel;
      std::vector<double> values;
      for (double v; words >> v;) values.push_back(v);
      ASSERT_FALSE(values.empty());
      for (double v : values) {
        EXPECT_GE(v, bench.ranges[e].first);
        EXPECT_LE(v, bench.ranges[e].second);
      }
      if (kind == "timed") {
        EXPECT_EQ(values.front(), 0.0);
        EXPECT_EQ(values.back(), 0.0);
      }
      samples += static_cast<std::int64_t>(values.size());
    }
    EXPECT_GT(samples, 0);
  }
};

TEST(NidaqmxCli, PredictRunsOnTheHardwarePath) {
  CliBench cli;
  const at::Tensor points = random_points(cli.bench, 25, 11);
  const auto result = cli.predict(points);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  cli.fake.wire(cli.bench.wiring());  // the same device function in this process
  expect_near(io::read_npz(cli.dir / "out.npz").tensor("outputs"), device_currents(cli.fake, points.to(at::kFloat)), 1e-4);
  cli.expect_safe_exit();
  EXPECT_THAT(cli.record(), HasSubstr("trigger activation_task_"));
}

TEST(NidaqmxCli, InjectedInterruptExits130WithOutputsAtZero) {
  CliBench cli("BRAINS_FAKE_NIDAQMX_FAULT=signal BRAINS_FAKE_NIDAQMX_FAULT_AT=2");
  const auto result = cli.predict(random_points(cli.bench, 40, 12));
  EXPECT_EQ(result.exit_code, 130) << result.err;
  EXPECT_THAT(result.err, HasSubstr("brains: error: measurement interrupted after 100 of"));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_FALSE(std::filesystem::exists(cli.dir / "out.npz"));
  cli.expect_safe_exit();
}

TEST(NidaqmxCli, RealSigintDuringAMeasurementExits130) {
  // The fake paces reads in wall-clock time; 100 points of 10 + 5 samples at 500 Hz take
  // about 3 s. SIGINT comes once the first read has returned.
  CliBench cli("BRAINS_FAKE_NIDAQMX_REALTIME=1");
  io::write_npz(cli.dir / "in.npz", std::vector<std::pair<std::string, at::Tensor>>{
                                        {"inputs", random_points(cli.bench, 100, 13).to(at::kFloat)}});
  const auto script = cli.dir.write(
      "interrupt.sh",
      cli.environment + " '" + BRAINS_CLI + "' predict --quiet --input '" + (cli.dir / "in.npz").string() +
          "' --output '" + (cli.dir / "out.npz").string() + "' --config '" + (cli.dir / "processor.yaml").string() +
          "' &\npid=$!\nfor i in $(seq 400); do grep -q '^read ' '" + (cli.dir / "record.txt").string() +
          "' 2>/dev/null && break; sleep 0.05; done\nkill -INT $pid\nwait $pid\n");
  const auto result = testing::run_command("sh '" + script.string() + "'");
  EXPECT_EQ(result.exit_code, 130) << result.err;
  EXPECT_THAT(result.err, HasSubstr("brains: error: measurement interrupted after"));
  EXPECT_FALSE(std::filesystem::exists(cli.dir / "out.npz"));
  cli.expect_safe_exit();
}

TEST(NidaqmxCli, MissingLibraryIsOneLineAndExitCodeOne) {
  CliBench cli;
  io::write_npz(cli.dir / "in.npz", std::vector<std::pair<std::string, at::Tensor>>{{"inputs", at::zeros({2, 3})}});
  const auto missing = testing::run_command("BRAINS_NIDAQMX_LIBRARY=/nonexistent/libnidaqmx.so '" +
                                            std::string(BRAINS_CLI) + "' predict --input '" +
                                            (cli.dir / "in.npz").string() + "' --output '" +
                                            (cli.dir / "out.npz").string() + "' --config '" +
                                            (cli.dir / "processor.yaml").string() + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err,
              HasSubstr("brains: error: cannot load the NI-DAQmx library: tried /nonexistent/libnidaqmx.so ("));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
}

}  // namespace
}  // namespace brains::processors::nidaqmx
