// The virtual driver (processor_type: virtual): the KMC device behind the hardware path.
// Most tests use the small preset with a few hundred hops per sample: real simulations,
// fast enough for the default run.
#include "brains/processors/virtual_driver.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "brains/core/error.h"
#include "brains/modules/dnpu.h"
#include "brains/physics/model.h"
#include "brains/processors/hardware_processor.h"
#include "brains/processors/predict.h"
#include "brains/processors/processor.h"
#include "brains/processors/waveform.h"

namespace brains::processors {
namespace {

using ::testing::HasSubstr;

// A processor config for the small device; `driver_extra` lines go under `driver:` (indented
// by two spaces).
std::string small_config(const std::string& driver_extra = "", int plateau = 2, int slope = 1) {
  return "processor_type: virtual\n"
         "waveform: {plateau_length: " + std::to_string(plateau) + ", slope_length: " + std::to_string(slope) + "}\n"
         "driver:\n"
         "  seed: 3\n"
         "  device: {preset: small}\n"
         "  kmc: {hops_per_sample: 200, warmup_hops: 1000}\n" +
         driver_extra;
}

VirtualDriverOptions small_options(const std::string& driver_extra = "") {
  return VirtualDriverOptions::from_config(Config::parse(small_config(driver_extra)));
}

// A waveform within [-1, 1] V that starts and ends at 0 V: random plateaus joined by ramps.
at::Tensor random_waveform(std::int64_t points, std::int64_t electrodes, std::uint64_t seed,
                           std::int64_t plateau = 3, std::int64_t slope = 2) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor x = at::rand({points, electrodes}, generator, at::kDouble) * 2 - 1;
  return Waveform(plateau, slope).points_to_waveform(x);
}

ConfigError config_error(const std::string& yaml) {
  try {
    Processor processor(Config::parse(yaml));
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no ConfigError for:\n" << yaml;
  return ConfigError("", "");
}

TEST(VirtualDriver, DefaultsDriveEveryElectrodeButTheLastAndReadTheLast) {
  const auto options = small_options();
  EXPECT_EQ(options.activation_electrodes, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(options.readout_electrodes, (std::vector<int>{7}));
  ASSERT_EQ(options.voltage_ranges.size(), 7u);
  EXPECT_EQ(options.voltage_ranges[3], (std::pair<double, double>{-1.0, 1.0}));
  EXPECT_EQ(options.amplification, (std::vector<double>{28.5}));
  ASSERT_TRUE(options.output_clipping);
  EXPECT_DOUBLE_EQ(options.output_clipping->first, -4 * 28.5);
  EXPECT_DOUBLE_EQ(options.output_clipping->second, 4 * 28.5);
  EXPECT_EQ(options.kmc.hops_per_sample, 200);
  EXPECT_EQ(options.kmc.blocks, 1);
  // Ten warm-ups' worth of hops per chunk, at least 16 samples.
  EXPECT_EQ(options.chunk_length(), 50);
}

TEST(VirtualDriver, BrainsPyChannelKeysPickTheElectrodes) {
  const auto options = small_options(
      "  instruments_setup:\n"
      "    activation_channels: [0, 2, 4]\n"
      "    readout_channels: [5, 7]\n"
      "    activation_voltage_ranges: [[-1.2, 0.6], [-0.7, 0.3], [-1.0, 1.0]]\n"
      "    activation_sampling_frequency: 1000\n"
      "    readout_sampling_frequency: 3000\n"
      "    average_io_point_difference: true\n"
      "    trigger_source: cDAQ1/segment1\n"
      "  amplification: [10, 100]\n");
  EXPECT_EQ(options.activation_electrodes, (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(options.readout_electrodes, (std::vector<int>{5, 7}));
  EXPECT_EQ(options.voltage_ranges[1], (std::pair<double, double>{-0.7, 0.3}));
  EXPECT_EQ(options.readouts_per_sample, 3);
  // The narrower amplifier's swing.
  EXPECT_DOUBLE_EQ(options.output_clipping->second, 40.0);

  VirtualDriver driver(options);
  EXPECT_EQ(driver.activation_electrode_count(), 3);
  EXPECT_EQ(driver.readout_electrode_count(), 2);
  EXPECT_TRUE(at::allclose(driver.voltage_ranges(),
                           at::tensor({-1.2f, 0.6f, -0.7f, 0.3f, -1.0f, 1.0f}).view({3, 2})));
}

TEST(VirtualDriver, ProcessorForwardIsTheDriversMeasurementOfTheWaveform) {
  Processor processor(Config::parse(small_config("", 3, 2)));
  EXPECT_EQ(processor->processor_type(), "virtual");
  EXPECT_TRUE(processor->is_hardware());
  EXPECT_EQ(processor->activation_electrode_count(), 7);
  EXPECT_EQ(processor->readout_electrode_count(), 1);

  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor x = (at::rand({6, 7}, generator) * 2 - 1).to(at::kFloat);
  const at::Tensor y = processor->forward(x);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{6, 1}));

  // The same device and seed, measured by hand: waveform with ramps, first call, plateau
  // samples averaged.
  VirtualDriver driver(small_options());
  const Waveform waveform(3, 2);
  const at::Tensor w = waveform.points_to_waveform(x).to(at::kDouble);
  const at::Tensor currents = driver.measure(w);
  // The processor averages the plateau samples in the input's dtype.
  const at::Tensor expected = waveform.plateaus_to_points(currents.index({waveform.mask(w.size(0))}).to(at::kFloat));
  EXPECT_TRUE(at::equal(y, expected));
  // Currents of tens of nA or less, not all equal.
  EXPECT_GT(y.max().item<double>() - y.min().item<double>(), 0.0);
  EXPECT_LT(y.abs().max().item<double>(), 200.0);
}

TEST(VirtualDriver, DnpuForwardAndPredictRunThroughTheHardwarePathWithoutGradients) {
  Processor processor(Config::parse(small_config()));
  modules::DNPU dnpu(processor, modules::DNPUOptions({{1, 2}}).seed(4));
  ASSERT_TRUE(dnpu->control_voltages_parameter().requires_grad());
  const at::Tensor x = at::tensor({-0.5f, -0.5f, -0.5f, 1.0f, 1.0f, -0.5f, 1.0f, 1.0f}).view({4, 2});
  const at::Tensor y = dnpu->forward(x);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{4, 1}));
  EXPECT_FALSE(y.requires_grad());

  // The same electrode voltages on a fresh processor with the same seed give the same currents.
  Processor twin(Config::parse(small_config()));
  const at::Tensor controls = dnpu->control_voltages();
  const at::Tensor merged =
      dnpu->merge_electrode_data(x.view({4, 1, 2}), controls.unsqueeze(0).expand({4, 1, controls.size(1)}))
          .view({4, 7});
  EXPECT_TRUE(at::equal(y, twin->forward(merged)));

  // predict(): batches through the same path.
  Processor other(Config::parse(small_config()));
  const at::Tensor batch = predict(*other, merged, 2);
  EXPECT_EQ(batch.sizes(), (at::IntArrayRef{4, 1}));
  EXPECT_TRUE(at::isfinite(batch).all().item<bool>());
}

TEST(VirtualDriver, CurrentsAreBitIdenticalForOneOrTwoThreads) {
  auto one = small_options("  threads: 1\n");
  auto two = small_options("  threads: 2\n");
  one.chunk_samples = two.chunk_samples = 16;
  VirtualDriver a(one), b(two);
  const at::Tensor w = random_waveform(20, 7, 1);  // 20·3 + 21·2 = 102 samples: 7 chunks
  ASSERT_GT(w.size(0), 4 * one.chunk_length());
  const at::Tensor first = a.measure(w);
  EXPECT_TRUE(at::equal(first, b.measure(w)));
  // A second measurement of the same waveform is another draw of the device's noise, the
  // same one for both.
  const at::Tensor second = a.measure(w);
  EXPECT_FALSE(at::equal(first, second));
  EXPECT_TRUE(at::equal(second, b.measure(w)));
}

TEST(VirtualDriver, InversionNegatesAndClippingSaturatesAtAmplificationTimesFourVolts) {
  const at::Tensor w = random_waveform(12, 7, 2);
  VirtualDriver plain(small_options("  amplification: [100]\n"));
  VirtualDriver inverted(small_options("  amplification: [100]\n  inverted_output: true\n"));
  VirtualDriver narrow(small_options("  amplification: [0.25]\n"));
  VirtualDriver unclipped(small_options("  amplification: [0.25]\n  output_clipping: null\n"));
  VirtualDriver explicit_clip(small_options("  output_clipping: [-0.5, 2]\n"));

  const at::Tensor y = plain.measure(w);
  ASSERT_LT(y.abs().max().item<double>(), 400.0);  // inside ±4 V · 100
  ASSERT_GT(y.abs().max().item<double>(), 1.0);    // so a ±1 nA clip bites
  EXPECT_TRUE(at::equal(inverted.measure(w), -y));
  EXPECT_TRUE(at::equal(narrow.measure(w), y.clamp(-1.0, 1.0)));
  EXPECT_TRUE(at::equal(unclipped.measure(w), y));
  EXPECT_TRUE(at::equal(explicit_clip.measure(w), y.clamp(-0.5, 2.0)));

  EXPECT_TRUE(at::equal(narrow.clipping_value(), at::tensor({-1.0f, 1.0f})));
  EXPECT_TRUE(std::isinf(unclipped.clipping_value()[1].item<double>()));
}

TEST(VirtualDriver, ReadoutsOfASampleAreAveraged) {
  // k = 2 readouts per written sample equal the mean of a k = 1 measurement of the waveform
  // with every row repeated twice (same chunks of readouts, same seed).
  auto averaged = small_options(
      "  instruments_setup: {activation_sampling_frequency: 500, readout_sampling_frequency: 1000}\n");
  averaged.chunk_samples = 8;
  auto single = small_options();
  single.chunk_samples = 16;
  ASSERT_EQ(averaged.readouts_per_sample, 2);
  const at::Tensor w = random_waveform(6, 7, 3);
  const at::Tensor y = VirtualDriver(averaged).measure(w);
  const at::Tensor doubled = VirtualDriver(single).measure(w.repeat_interleave(2, 0));
  const at::Tensor mean = doubled.view({w.size(0), 2, 1}).mean(1);
  EXPECT_TRUE(at::allclose(y, mean, 1e-12, 1e-12));
}

TEST(VirtualDriver, NoiseAndDriftAreOffByDefaultAndAddWhatTheyAreAskedFor) {
  const at::Tensor w = random_waveform(100, 7, 4, 4, 1);
  const at::Tensor clean = VirtualDriver(small_options("  output_clipping: null\n")).measure(w);
  const at::Tensor noisy =
      VirtualDriver(small_options("  output_clipping: null\n  noise: {std_na: 2.0}\n")).measure(w);
  const at::Tensor residual = noisy - clean;
  EXPECT_NEAR(residual.std().item<double>(), 2.0, 0.2);  // ~500 samples
  EXPECT_NEAR(residual.mean().item<double>(), 0.0, 0.3);

  VirtualDriver drifting(small_options("  output_clipping: null\n  drift: {output_std_na: 5.0}\n"));
  at::Tensor drift;
  for (int call = 0; call < 4; ++call) drift = drifting.measure(w);
  // The drift moves slowly against the sample period, so neighbouring samples carry almost
  // the same offset: the residual is smooth where the noise was not. Call 3's clean currents
  // come from the same seed stream.
  VirtualDriver reference(small_options("  output_clipping: null\n"));
  at::Tensor base;
  for (int call = 0; call < 4; ++call) base = reference.measure(w);
  const at::Tensor offset = drift - base;
  EXPECT_GT(offset.abs().max().item<double>(), 0.01);
  const at::Tensor steps = offset.narrow(0, 1, offset.size(0) - 1) - offset.narrow(0, 0, offset.size(0) - 1);
  EXPECT_LT(steps.abs().max().item<double>(), 0.5 * offset.abs().max().item<double>() + 1e-9);

  VirtualDriver energies(small_options("  drift: {energy_std_ev: 0.01, energy_time_constant_s: 0.5}\n"));
  const auto before = energies.model()->fixed_energy_kt();
  energies.measure(w);  // 0.5 s of device time at 1 kHz
  const auto after = energies.model()->fixed_energy_kt();
  double moved = 0;
  for (std::size_t i = 0; i < before.size(); ++i) moved += std::abs(after[i] - before[i]);
  EXPECT_GT(moved / static_cast<double>(before.size()), 0.1);  // ~0.006 eV = ~1 kT at 77 K
  EXPECT_NEAR(energies.device_time_s(), static_cast<double>(w.size(0)) / 1000.0, 1e-12);
}

TEST(VirtualDriver, VoltagesOutsideTheRangeAreRefusedBeforeAnySimulation) {
  auto driver = std::make_shared<VirtualDriver>(small_options("  voltage_ranges: [-0.5, 0.5]\n"));
  HardwareProcessor hardware(driver, Waveform(2, 1));
  at::Tensor x = at::zeros({4, 7});  // two points held for 2 samples each
  x[1][4] = 0.8f;
  try {
    hardware->forward(x);
    FAIL() << "no SafetyError";
  } catch (const SafetyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("electrode 4"));
    EXPECT_THAT(e.what(), HasSubstr("outside its range [-0.5, 0.5] V"));
  }
  EXPECT_EQ(driver->measurements(), 0);

  // Through Processor as well, and a waveform that does not start at 0 V.
  Processor processor(Config::parse(small_config("  voltage_ranges: [-0.5, 0.5]\n")));
  EXPECT_THROW(processor->forward(at::full({2, 7}, 0.6f)), SafetyError);
  EXPECT_THROW(hardware->forward_waveform(at::full({4, 7}, 0.1f)), SafetyError);
  EXPECT_EQ(driver->measurements(), 0);
}

TEST(VirtualDriver, BadDeviceParametersNameTheirKey) {
  const auto key_of = [](const std::string& device) {
    return config_error("processor_type: virtual\ndriver:\n  device: " + device + "\n").key_path();
  };
  EXPECT_EQ(key_of("{electrodes: [{angle_deg: 0, width_nm: 60}, {angle_deg: 10, width_nm: 60}]}"),
            "driver.device.electrodes[1]");
  EXPECT_EQ(key_of("{electrodes: [{position_nm: [0, 0]}, {angle_deg: 90}]}"),
            "driver.device.electrodes[0].position_nm");
  EXPECT_EQ(key_of("{preset: small, donors: 31}"), "driver.device.donors");
  EXPECT_EQ(key_of("{temperature_k: 0}"), "driver.device.temperature_k");
  EXPECT_EQ(key_of("{temperature_k: -4}"), "driver.device.temperature_k");
  EXPECT_EQ(key_of("{localization_length_nm: 0}"), "driver.device.localization_length_nm");
  EXPECT_EQ(key_of("{min_hop_distance_nm: 60, max_hop_distance_nm: 60}"), "driver.device.min_hop_distance_nm");
  EXPECT_EQ(key_of("{min_hop_distance_nm: 70}"), "driver.device.min_hop_distance_nm");
  EXPECT_EQ(key_of("{preset: large}"), "driver.device.preset");
  EXPECT_THAT(config_error("processor_type: virtual\ndriver:\n  device: {preset: small, donors: 31}\n").what(),
              HasSubstr("more donors than acceptors"));
}

TEST(VirtualDriver, BadDriverSettingsNameTheirKey) {
  const auto key_of = [](const std::string& driver_extra) { return config_error(small_config(driver_extra)).key_path(); };
  EXPECT_EQ(key_of("  instrument_type: cdaq_to_cdaq\n"), "driver.instrument_type");
  EXPECT_EQ(key_of("  activation_electrodes: [0, 1, 8]\n"), "driver.activation_electrodes[2]");
  EXPECT_EQ(key_of("  activation_electrodes: [0, 1, 1]\n"), "driver.activation_electrodes[2]");
  EXPECT_EQ(key_of("  activation_electrodes: [0, 1]\n  readout_electrodes: [1]\n"), "driver.readout_electrodes[0]");
  EXPECT_EQ(key_of("  activation_electrodes: [0, 1, 2, 3, 4, 5, 6, 7]\n"), "driver.readout_electrodes");
  EXPECT_EQ(key_of("  activation_electrodes: [0]\n  instruments_setup: {activation_channels: [0]}\n"),
            "driver.activation_electrodes");
  EXPECT_EQ(key_of("  voltage_ranges: [[-1, 1], [-1, 1]]\n"), "driver.voltage_ranges");
  EXPECT_EQ(key_of("  voltage_ranges: [-2.0, 1.0]\n"), "driver.voltage_ranges[0]");
  EXPECT_EQ(key_of("  voltage_ranges: [0.1, 1.0]\n"), "driver.voltage_ranges[0]");
  EXPECT_EQ(key_of("  amplification: [-3]\n"), "driver.amplification[0]");
  EXPECT_EQ(key_of("  amplification: [1, 2]\n"), "driver.amplification");
  EXPECT_EQ(key_of("  output_clipping: [5, -5]\n"), "driver.output_clipping");
  EXPECT_EQ(key_of("  noise: {std_na: -1}\n"), "driver.noise.std_na");
  EXPECT_EQ(key_of("  kmc: {hops_per_sample: 0}\n"), "driver.kmc.hops_per_sample");
  EXPECT_EQ(key_of("  instruments_setup: {activation_sampling_frequency: 1000, readout_sampling_frequency: 1500}\n"),
            "driver.instruments_setup.readout_sampling_frequency");
  EXPECT_EQ(key_of("  instruments_setup: {average_io_point_difference: false}\n"),
            "driver.instruments_setup.average_io_point_difference");
  // A gate cannot be read out.
  EXPECT_EQ(config_error("processor_type: virtual\ndriver:\n"
                         "  device: {preset: small, electrodes: [{position_nm: [-50, -25]}, {position_nm: [50, 25], "
                         "gate_only: true}]}\n"
                         "  readout_electrodes: [1]\n")
                .key_path(),
            "driver.readout_electrodes[0]");
}

}  // namespace
}  // namespace brains::processors
