// NI-DAQmx setups read from brains-py driver configs (spec brains-py §7.2, §7.7): the
// upstream example files, multi-device masks, the derived channel lists and limits, every
// bad input as a one-line ConfigError naming its key, and loading the library.
#include "brains/processors/nidaqmx/setup.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/sampler_configs.h"
#include "brains/processors/nidaqmx/api.h"
#include "brains/processors/nidaqmx/driver.h"
#include "brains/processors/processor.h"
#include "support/temp_dir.h"

namespace brains::processors::nidaqmx {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::reference_dir;
using testing::TempDir;

std::filesystem::path smg_dir() { return reference_dir() / "upstream-files" / "smg"; }
std::filesystem::path tasks_dir() { return reference_dir() / "upstream-files" / "tasks"; }

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string indent(const std::string& lines, const std::string& prefix) {
  std::string out;
  std::istringstream in(lines);
  std::string line;
  while (std::getline(in, line)) out += prefix + line + "\n";
  return out;
}

// A single-device driver section; `setup` and `driver` add keys (YAML lines) to
// instruments_setup and driver. A repeated key replaces the earlier one (last wins, as in
// PyYAML).
Config driver_config(const std::string& setup = "", const std::string& driver = "") {
  const std::string base =
      "multiple_devices: false\n"
      "trigger_source: cDAQ1\n"
      "average_io_point_difference: true\n"
      "activation_sampling_frequency: 500\n"
      "readout_sampling_frequency: 1000\n"
      "activation_instrument: cDAQ1Mod3\n"
      "activation_channels: [0, 1, 2]\n"
      "activation_voltage_ranges: [[-1.2, 0.6], [-0.7, 0.3], [-1.4, 1.6]]\n"
      "readout_instrument: cDAQ1Mod4\n"
      "readout_channels: [0]\n";
  const std::string text = "driver:\n  amplification: [39.17]\n  inverted_output: true\n" +
                           indent(driver, "  ") + "  instruments_setup:\n" + indent(base, "    ") +
                           indent(setup, "    ");
  return Config::parse(text, "<config>").at("driver");
}

std::string config_error(const std::string& type, const Config& driver) {
  try {
    NidaqSetup::from_config(type, driver);
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

TEST(NidaqmxSetup, UpstreamCdaqInstrumentFile) {
  // brainspy-smg configs/sampling/instruments/cdaq.yaml, included as brains-py does.
  TempDir dir;
  std::filesystem::create_directories(dir / "instruments");
  std::filesystem::copy_file(smg_dir() / "cdaq.yaml", dir / "instruments" / "cdaq.yaml");
  const auto file = dir.write("sampling.yaml", slurp(smg_dir() / "sampling_configs_template_cdaq_to_cdaq.yaml"));
  const Config configs = Config::load(file);
  const NidaqSetup setup = NidaqSetup::from_config("cdaq_to_cdaq", configs.at("driver"));

  EXPECT_EQ(setup.activation_rate_hz, 5000);
  EXPECT_EQ(setup.readout_rate_hz, 10000);
  EXPECT_EQ(setup.oversampling(), 2);
  EXPECT_THAT(setup.activation_channel_names(),
              ElementsAre("cDAQ2Mod2/ao6", "cDAQ2Mod2/ao0", "cDAQ2Mod2/ao7", "cDAQ2Mod2/ao5",
                          "cDAQ2Mod2/ao2", "cDAQ2Mod2/ao4", "cDAQ2Mod2/ao3"));
  EXPECT_THAT(setup.readout_channel_names(), ElementsAre("cDAQ2Mod8/ai0"));
  EXPECT_THAT(setup.instruments(), ElementsAre("cDAQ2Mod2", "cDAQ2Mod8"));
  EXPECT_EQ(setup.start_trigger_terminal(), "/cDAQ2/ai/StartTrigger");
  EXPECT_THAT(setup.amplification, ElementsAre(39.17));
  EXPECT_TRUE(setup.inverted_output);
  const at::Tensor expected = at::tensor({-0.46, 0.48, -1.35, 1.0, -1.4, 1.2, -1.4, 1.45, -1.4, 0.9,
                                          -1.4, 1.5, -1.2, 0.3}, at::kFloat).view({7, 2});
  EXPECT_TRUE(at::equal(setup.voltage_ranges(), expected));
  // Output limits: the ranges ± 0.01 V, never beyond the absolute limit.
  const auto limits = setup.output_limits();
  EXPECT_NEAR(limits[5].first, -1.41, 1e-12);
  EXPECT_NEAR(limits[5].second, 1.51, 1e-12);
  EXPECT_NEAR(limits[0].first, -0.47, 1e-12);
}

TEST(NidaqmxSetup, UpstreamSamplerConfigsDriver) {
  // A real sampler_configs.json: brains-py wrote its internal keys (auto_start, offset,
  // max_ramping_time_seconds) and gain_info into the driver section; they are ignored.
  const Config configs(io::read_sampler_configs(smg_dir() / "sampler_configs.json"));
  const NidaqSetup setup = NidaqSetup::from_config("cdaq_to_cdaq", configs.at("driver"));
  EXPECT_EQ(setup.activation_rate_hz, 100);
  EXPECT_EQ(setup.readout_rate_hz, 10000);
  EXPECT_EQ(setup.oversampling(), 100);
  EXPECT_EQ(setup.electrode_count(), 7);
  EXPECT_EQ(setup.activation_channel_names()[2], "cDAQ2Mod2/ao1");
  EXPECT_THAT(setup.amplification, ElementsAre(39.5));
  EXPECT_NEAR(setup.electrode_ranges()[3].first, -1.25, 1e-12);
}

TEST(NidaqmxSetup, UpstreamTasksHardwareProcessorConfig) {
  // brainspy-tasks defaults/processors/hw.yaml: a scalar amplification, the legacy key
  // real_time_rack, and average_io_point_difference given twice (true, then false: the last
  // wins as in PyYAML, and k = 1 needs no averaging).
  const Config configs = Config::load(tasks_dir() / "defaults" / "processors" / "hw.yaml");
  const NidaqSetup setup = NidaqSetup::from_config("cdaq_to_cdaq", configs.at("driver"));
  EXPECT_EQ(setup.oversampling(), 1);
  EXPECT_THAT(setup.amplification, ElementsAre(41.0));
  EXPECT_EQ(setup.start_trigger_terminal(), "/cDAQ1/segment1/ai/StartTrigger");
  EXPECT_EQ(setup.activation_channel_names().front(), "cDAQ1Mod3/ao6");
}

TEST(NidaqmxSetup, LegacyMultipleDeviceFileNeedsItsMissingKeys) {
  // multiple_cdaq.yaml predates the sampling frequencies and multiple_devices keys.
  const std::string setup_text = slurp(tasks_dir() / "defaults" / "processors" / "instruments" / "multiple_cdaq.yaml");
  TempDir dir;
  const auto file = dir.write("driver.yaml", "driver:\n  amplification: [10]\n  instruments_setup: !include multiple_cdaq.yaml\n");
  dir.write("multiple_cdaq.yaml", setup_text);
  EXPECT_THAT(config_error("cdaq_to_cdaq", Config::load(file).at("driver")),
              HasSubstr("driver.instruments_setup.activation_sampling_frequency: missing required key"));

  // With them added, its min_/max_activation_voltages are read: five devices of 7 electrodes.
  dir.write("multiple_cdaq.yaml", "multiple_devices: true\nactivation_sampling_frequency: 1000\n"
                                  "readout_sampling_frequency: 2000\n" + setup_text);
  const NidaqSetup setup = NidaqSetup::from_config("cdaq_to_cdaq", Config::load(file).at("driver"));
  ASSERT_EQ(setup.devices.size(), 5u);
  EXPECT_EQ(setup.electrode_count(), 35);
  EXPECT_EQ(setup.readout_count(), 5);
  EXPECT_THAT(setup.readout_channel_names(),
              ElementsAre("cDAQ1Mod4/ai0", "cDAQ1Mod4/ai3", "cDAQ1Mod4/ai2", "cDAQ1Mod4/ai4", "cDAQ1Mod4/ai1"));
  EXPECT_EQ(setup.electrode_ranges()[5], std::make_pair(-0.7, 0.3));
  EXPECT_EQ(setup.amplification.size(), 5u);  // one value for every readout
}

TEST(NidaqmxSetup, LegacyNidaqFileIsIncomplete) {
  const Config configs = Config::parse("driver:\n  amplification: [10]\n  instruments_setup: !include nidaq.yaml\n",
                                       "<driver>", tasks_dir() / "defaults" / "processors" / "instruments");
  EXPECT_THAT(config_error("cdaq_to_nidaq", configs.at("driver")),
              HasSubstr("driver.instruments_setup.activation_sampling_frequency: missing required key"));
}

Config multi_device(const std::string& mask_a, const std::string& mask_b, const std::string& mask_c) {
  return Config::parse(
             "driver:\n"
             "  amplification: [10]\n"
             "  instruments_setup:\n"
             "    multiple_devices: true\n"
             "    trigger_source: cDAQ1\n"
             "    average_io_point_difference: true\n"
             "    activation_sampling_frequency: 1000\n"
             "    readout_sampling_frequency: 1000\n"
             "    A:\n"
             "      activation_instrument: cDAQ1Mod1\n"
             "      activation_channels: [0, 1, 2, 3, 4, 5, 6]\n"
             "      activation_voltage_ranges: [[-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1]]\n"
             "      activation_channel_mask: " + mask_a + "\n"
             "      readout_instrument: cDAQ1Mod4\n"
             "      readout_channels: [0]\n"
             "    B:\n"
             "      activation_instrument: cDAQ1Mod2\n"
             "      activation_channels: [0, 1, 2, 3, 4, 5, 6]\n"
             "      activation_voltage_ranges: [[-1, 1], [-1, 1], [-1, 1], [-0.5, 0.25], [-1, 1], [-1, 1], [-1, 1]]\n"
             "      activation_channel_mask: " + mask_b + "\n"
             "      readout_instrument: cDAQ1Mod4\n"
             "      readout_channels: [4]\n"
             "    C:\n"
             "      activation_instrument: cDAQ1Mod3\n"
             "      activation_channels: [0, 1, 2, 3, 4, 5, 6]\n"
             "      activation_voltage_ranges: [[-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1]]\n"
             "      activation_channel_mask: " + mask_c + "\n"
             "      readout_instrument: cDAQ1Mod4\n"
             "      readout_channels: [2]\n")
      .at("driver");
}

TEST(NidaqmxSetup, MultipleDevicesFollowTheirMasks) {
  // brains-py's channels test: only B's fourth channel is driven.
  const NidaqSetup one = NidaqSetup::from_config(
      "cdaq_to_cdaq", multi_device("[0,0,0,0,0,0,0]", "[0,0,0,1,0,0,0]", "[0,0,0,0,0,0,0]"));
  EXPECT_THAT(one.activation_channel_names(), ElementsAre("cDAQ1Mod2/ao3"));
  EXPECT_THAT(one.readout_channel_names(), ElementsAre("cDAQ1Mod4/ai4"));
  EXPECT_THAT(one.instruments(), ElementsAre("cDAQ1Mod2", "cDAQ1Mod4"));
  EXPECT_EQ(one.voltage_ranges().sizes(), (at::IntArrayRef{1, 2}));
  EXPECT_FLOAT_EQ(one.voltage_ranges()[0][1].item<float>(), 0.25f);
  ASSERT_EQ(one.devices.size(), 1u);
  EXPECT_EQ(one.devices[0].name, "B");
  EXPECT_THAT(one.devices[0].electrode_columns, ElementsAre(-1, -1, -1, 0, -1, -1, -1));

  // Two devices: columns follow device order, masked channels have none.
  const NidaqSetup two = NidaqSetup::from_config(
      "cdaq_to_cdaq", multi_device("[1,0,1,0,0,0,1]", "[0,0,0,0,0,0,0]", "[1,1,0,0,0,0,0]"));
  EXPECT_THAT(two.activation_channel_names(),
              ElementsAre("cDAQ1Mod1/ao0", "cDAQ1Mod1/ao2", "cDAQ1Mod1/ao6", "cDAQ1Mod3/ao0", "cDAQ1Mod3/ao1"));
  EXPECT_THAT(two.readout_channel_names(), ElementsAre("cDAQ1Mod4/ai0", "cDAQ1Mod4/ai2"));
  EXPECT_THAT(two.devices[1].electrode_columns, ElementsAre(3, 4, -1, -1, -1, -1, -1));
  EXPECT_THAT(two.devices[1].readout_columns, ElementsAre(1));

  EXPECT_THAT(config_error("cdaq_to_cdaq", multi_device("[0,0,0,0,0,0,0]", "[0,0,0,0,0,0,0]", "[0,0,0,0,0,0,0]")),
              HasSubstr("driver.instruments_setup: every device's activation_channel_mask is all 0"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", multi_device("[1,1,1]", "[0,0,0,0,0,0,0]", "[0,0,0,0,0,0,0]")),
              HasSubstr("driver.instruments_setup.A.activation_channel_mask: has 3 entries but 7"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", multi_device("[1,2,1,1,1,1,1]", "[0,0,0,0,0,0,0]", "[0,0,0,0,0,0,0]")),
              HasSubstr("driver.instruments_setup.A.activation_channel_mask[1]: expected 0 or 1, got 2"));
}

TEST(NidaqmxSetup, SingleDeviceDefaultsAndSync) {
  const NidaqSetup cdaq = NidaqSetup::from_config("cdaq_to_cdaq", driver_config());
  EXPECT_EQ(cdaq.readout_terminal_config, kTerminalDefault);
  EXPECT_EQ(cdaq.readout_min_v, -5.0);
  EXPECT_EQ(cdaq.voltage_limit_v, 1.6);
  EXPECT_FALSE(cdaq.max_step_v.has_value());
  EXPECT_FALSE(cdaq.reset_on_close);
  // The range [-1.4, 1.6] widened by 0.01 V stops at the absolute limit.
  EXPECT_EQ(cdaq.output_limits()[2], std::make_pair(-1.41, 1.6));

  // cdaq_to_nidaq: no trigger needed (brains-py required one, §15.30); sync on ao7/ai7;
  // 0.04 s at 500 Hz is brains-py's offset of 20 samples.
  const NidaqSetup nidaq = NidaqSetup::from_config("cdaq_to_nidaq", driver_config("trigger_source: null"));
  EXPECT_EQ(nidaq.sync_activation_channel, "cDAQ1Mod3/ao7");
  EXPECT_EQ(nidaq.sync_readout_channel, "cDAQ1Mod4/ai7");
  EXPECT_EQ(nidaq.sync_preroll_samples(), 20);
  EXPECT_THAT(nidaq.instruments(), ElementsAre("cDAQ1Mod3", "cDAQ1Mod4"));
  const NidaqSetup named = NidaqSetup::from_config(
      "cdaq_to_nidaq", driver_config("activation_sync_channel: Dev1/ao1\nreadout_sync_channel: 5\n"
                                     "readout_terminal_config: diff\nreadout_voltage_range: [-10, 10]"));
  EXPECT_EQ(named.sync_activation_channel, "Dev1/ao1");
  EXPECT_EQ(named.sync_readout_channel, "cDAQ1Mod4/ai5");
  EXPECT_EQ(named.readout_terminal_config, kTerminalDifferential);
  EXPECT_EQ(named.readout_max_v, 10.0);
  EXPECT_THAT(named.instruments(), ElementsAre("cDAQ1Mod3", "cDAQ1Mod4", "Dev1"));
}

TEST(NidaqmxSetup, BadInputsNameTheirKey) {
  const std::string s = "driver.instruments_setup.";
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_voltage_ranges: [[-1, 1], [-1, 1]]")),
              HasSubstr(s + "activation_voltage_ranges: has 2 ranges but 3 activation channels"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_voltage_ranges: [[-1, 1], [0.2, 0.8], [-1, 1]]")),
              HasSubstr(s + "activation_voltage_ranges[1]: the range [0.2, 0.8] V must contain 0 V"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_voltage_ranges: [[-1, 1], [-1, 1], [-1.8, 1]]")),
              HasSubstr(s + "activation_voltage_ranges[2]: the range [-1.8, 1] V exceeds the absolute limit of 1.6 V"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_voltage_ranges: [[-1, 1], [1, -1], [-1, 1]]")),
              HasSubstr(s + "activation_voltage_ranges[1]: expected min <= max"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_voltage_ranges: [[-1, 1], [-1], [-1, 1]]")),
              HasSubstr(s + "activation_voltage_ranges[1]: expected a [min, max] pair"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("", "voltage_limit_v: 1.0\n")),
              HasSubstr(s + "activation_voltage_ranges[0]: the range [-1.2, 0.6] V exceeds the absolute limit of 1 V"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("", "voltage_limit_v: 2.0\n")),
              HasSubstr("driver.voltage_limit_v: may only lower the absolute limit of 1.6 V"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("readout_sampling_frequency: 1250")),
              HasSubstr(s + "readout_sampling_frequency: must be a positive integer multiple"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_sampling_frequency: 5e2")),
              HasSubstr(s + "activation_sampling_frequency: expected an integer"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("average_io_point_difference: false")),
              HasSubstr(s + "average_io_point_difference: must be true when the readout oversamples (k = 2)"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("trigger_source: null")),
              HasSubstr(s + "trigger_source: missing required key"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_channels: [0, 1, 1]")),
              HasSubstr(s + "activation_channels: channel 1 is listed twice"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("activation_channels: [0, -1, 2]")),
              HasSubstr(s + "activation_channels[1]: channel numbers are non-negative"));
  EXPECT_THAT(config_error("cdaq_to_nidaq", driver_config("activation_channels: [0, 7, 2]")),
              HasSubstr(s + "activation_channels: output channel cDAQ1Mod3/ao7 is used twice"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("readout_terminal_config: single")),
              HasSubstr(s + "readout_terminal_config: expected default, rse, nrse, diff or pseudo_diff"));
  // One gain serves every readout.
  EXPECT_THAT(NidaqSetup::from_config("cdaq_to_cdaq", driver_config("readout_channels: [0, 1]")).amplification,
              ElementsAre(39.17, 39.17));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("", "amplification: [1, 2]\n")),
              HasSubstr("driver.amplification: has 2 values; expected 1 or one per readout channel (1)"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("", "amplification: [0]\n")),
              HasSubstr("driver.amplification: expected finite non-zero gains"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("", "max_step_v: -0.1\n")),
              HasSubstr("driver.max_step_v: must be a positive number"));
  EXPECT_THAT(config_error("cdaq_to_cdaq", driver_config("", "sync_attempts: 0\n")),
              HasSubstr("driver.sync_attempts: expected at least 1 attempt"));
  EXPECT_THAT(config_error("cdaq_to_nidaq", driver_config("", "sync_preroll_s: 0.001\n")),
              HasSubstr("driver.sync_preroll_s: 0.001 s is less than one sample at 500 Hz"));
  EXPECT_THAT(config_error("simulation", driver_config()), HasSubstr("is not an NI-DAQmx setup"));
}

TEST(NidaqmxSetup, ExampleConfigsParse) {
  const std::filesystem::path examples = std::filesystem::path(BRAINS_SOURCE_DIR) / "examples" / "configs";
  const Config cdaq = Config::load(examples / "processor_cdaq_to_cdaq.yaml");
  const NidaqSetup a = NidaqSetup::from_config(cdaq.get<std::string>("processor_type"), cdaq.at("driver"));
  EXPECT_EQ(a.electrode_count(), 7);
  EXPECT_EQ(a.max_step_v, 0.1);
  const Config nidaq = Config::load(examples / "processor_cdaq_to_nidaq.yaml");
  const NidaqSetup b = NidaqSetup::from_config(nidaq.get<std::string>("processor_type"), nidaq.at("driver"));
  EXPECT_EQ(b.sync_activation_channel, "Dev1/ao7");
  EXPECT_EQ(b.sync_readout_channel, "cDAQ1Mod1/ai7");
  EXPECT_EQ(b.sync_preroll_samples(), 40);
}

TEST(NidaqmxLibrary, MissingLibraryNamesEveryPathTried) {
  const NidaqSetup setup = NidaqSetup::from_config("cdaq_to_cdaq", driver_config());
  ::unsetenv("BRAINS_NIDAQMX_LIBRARY");
  try {
    NidaqmxDriver driver(setup);
    FAIL() << "a driver without NI-DAQmx";
  } catch (const HardwareError& e) {
    const std::string message = e.what();
    EXPECT_THAT(message, HasSubstr("cannot load the NI-DAQmx library: tried libnidaqmx.so ("));
    for (const auto& path : library_candidates()) EXPECT_THAT(message, HasSubstr(path + " ("));
    EXPECT_THAT(message, HasSubstr("/usr/lib/x86_64-linux-gnu/libnidaqmx.so"));
    EXPECT_THAT(message, HasSubstr("/usr/local/natinst/nidaqmx/lib/libnidaqmx.so"));
    EXPECT_THAT(message, HasSubstr("set BRAINS_NIDAQMX_LIBRARY"));
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
  // A configured path is the only one tried; the environment variable wins over it.
  NidaqSetup configured = setup;
  configured.library = "/nonexistent/libnidaqmx.so";
  EXPECT_THAT(library_candidates(configured.library), ElementsAre("/nonexistent/libnidaqmx.so"));
  try {
    NidaqmxDriver driver(configured);
    FAIL();
  } catch (const HardwareError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tried /nonexistent/libnidaqmx.so ("));
    EXPECT_THAT(e.what(), Not(HasSubstr("/usr/lib/libnidaqmx.so")));
  }
  ::setenv("BRAINS_NIDAQMX_LIBRARY", "libz.so.1", 1);
  EXPECT_THAT(library_candidates(configured.library), ElementsAre("libz.so.1"));
  try {
    NidaqmxDriver driver(configured);
    FAIL();
  } catch (const HardwareError& e) {
    EXPECT_STREQ(e.what(), "cannot use NI-DAQmx library libz.so.1: it has no function DAQmxCreateTask");
  }
  ::unsetenv("BRAINS_NIDAQMX_LIBRARY");

  // Through Processor, as `processor_type: cdaq_to_cdaq` in any config.
  const Config processor = Config::parse("processor_type: cdaq_to_cdaq\nwaveform: {plateau_length: 2, slope_length: 2}\ndriver:\n" +
                                         std::string("  amplification: [1]\n  instruments_setup: {trigger_source: cDAQ1, "
                                                     "activation_sampling_frequency: 100, readout_sampling_frequency: 100, "
                                                     "activation_instrument: cDAQ1Mod1, activation_channels: [0], "
                                                     "activation_voltage_ranges: [[-1, 1]], readout_instrument: cDAQ1Mod2, "
                                                     "readout_channels: [0]}\n"));
  EXPECT_THROW(Processor{processor}, HardwareError);
}

}  // namespace
}  // namespace brains::processors::nidaqmx
