// The sampler on simulation_debug (the fixture surrogate behind the hardware path): the
// data it writes, resume after an interrupt, shards, the state file, and bad configs.
#include "brains/smg/sampler.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/io/io_dat.h"
#include "brains/io/sampler_configs.h"
#include "brains/smg/sampler_state.h"
#include "brains/smg/sampling_options.h"
#include "support/fixture_surrogate.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

processors::Processor debug_processor(const std::string& effects = "") {
  std::string text = "processor_type: simulation_debug\n";
  if (!effects.empty()) text += "electrode_effects: {" + effects + "}\n";
  return processors::Processor(Config::parse(text), testing::fixture_info(), testing::fixture_state_dict());
}

// 7 electrodes at fs = 1000 Hz; 6 batches of 40 samples with ramps of 10.
const char* const kBaseConfig = R"(data_name: test_sampling
seed: 11
plot_interval: 0
processor_type: simulation_debug
driver:
  amplification: [10.0]
  instruments_setup:
    activation_sampling_frequency: 1000
    average_io_point_difference: true
    activation_voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.0, 0.5], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]
input_data:
  input_distribution: sawtooth
  activation_electrode_no: 7
  readout_electrode_no: 1
  input_frequency: [2, 3, 5, 7, 13, 17, 19]
  factor: 0.05
  phase: random
  random_phase_shift_each: 2
  batch_time: 0.04
  ramp_time: 0.01
  number_batches: 6
)";

// Sets each key of the YAML mapping `changes` in `target`; a null value removes the key.
void apply(YAML::Node target, const std::string& changes) {
  for (const auto& item : YAML::Load(changes)) {
    const auto key = item.first.as<std::string>();
    if (item.second.IsNull())
      target.remove(key);
    else
      target[key] = item.second;
  }
}

// The base config with changes to input_data and driver.instruments_setup.
Config config(const std::string& input = "{}", const std::string& setup = "{}") {
  YAML::Node root = YAML::Load(kBaseConfig);
  apply(root["input_data"], input);
  apply(root["driver"]["instruments_setup"], setup);
  return Config(root);
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

SampleRequest quiet_request(const fs::path& out) {
  SampleRequest request;
  request.out = out;
  request.progress = false;
  return request;
}

// A ConfigError's key path and a one-line message.
template <typename F>
std::string config_error_key(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.key_path();
  }
  ADD_FAILURE() << "expected ConfigError";
  return "";
}

TEST(Sampler, WritesInputsOfTheGlobalTimeAxisAndTheProcessorOutputs) {
  testing::TempDir dir;
  const Config configs = config();
  const SampleResult result = sample(configs, debug_processor(), quiet_request(dir.path()));
  EXPECT_EQ(result.batches_measured, 6);
  EXPECT_EQ(result.samples_measured, 240);
  EXPECT_EQ(result.run_dir.parent_path(), dir.path());
  EXPECT_THAT(result.run_dir.filename().string(), ::testing::StartsWith("test_sampling_"));

  const io::IoData data = io::read_io_dat(result.run_dir / "IO.dat", 7, 1);
  ASSERT_EQ(data.inputs.size(0), 240);
  EXPECT_EQ(slurp(result.run_dir / "IO.dat").substr(0, 12), "# Input 0, I");

  const SamplingOptions options = SamplingOptions::from_config(configs, *debug_processor());
  EXPECT_EQ(options.batch_points, 40);
  EXPECT_EQ(options.ramp_points, 10);
  // Inputs: the triangle of the global time n / fs, with each batch's phases.
  for (std::int64_t k = 0; k < 6; ++k) {
    const at::Tensor t = at::arange(k * 40, k * 40 + 40, at::kDouble) / 1000.0;
    const at::Tensor expected =
        triangle_wave(t, options.frequencies_hz, options.batch_phase(k), options.amplitude_v, options.offset_v).t();
    EXPECT_TRUE(at::equal(data.inputs.narrow(0, k * 40, 40), expected)) << "batch " << k;
  }
  // Amplitude and offset from the configured ranges: the third electrode spans [-1, 0.5].
  EXPECT_DOUBLE_EQ(options.amplitude_v[2].item<double>(), 0.75);
  EXPECT_DOUBLE_EQ(options.offset_v[2].item<double>(), -0.25);
  EXPECT_GE(data.inputs.select(1, 2).min().item<double>(), -1.0 - 1e-12);
  EXPECT_LE(data.inputs.select(1, 2).max().item<double>(), 0.5 + 1e-12);
  // Outputs: the surrogate's currents at those inputs (no noise, so the ramps do not matter).
  const at::Tensor expected = testing::fixture_processor()->forward(data.inputs.to(at::kFloat)).to(at::kDouble);
  EXPECT_TRUE(at::allclose(data.outputs, expected, 1e-5, 1e-4));
  EXPECT_GT(data.outputs.std().item<double>(), 0.1);

  // Phases: recorded per batch; shared by batches 2j and 2j + 1, new for every pair.
  std::istringstream phases(slurp(result.run_dir / "batch_phases.dat"));
  std::string line;
  std::getline(phases, line);
  EXPECT_EQ(line, "# batch, Phase 0 (rad), Phase 1 (rad), Phase 2 (rad), Phase 3 (rad), Phase 4 (rad), "
                  "Phase 5 (rad), Phase 6 (rad)");
  for (std::int64_t k = 0; k < 6; ++k) {
    ASSERT_TRUE(std::getline(phases, line));
    std::istringstream fields(line);
    std::int64_t batch;
    fields >> batch;
    EXPECT_EQ(batch, k);
    for (std::int64_t i = 0; i < 7; ++i) {
      double value;
      fields >> value;
      EXPECT_EQ(value, options.batch_phase(k)[i].item<double>());
    }
  }
  EXPECT_TRUE(at::equal(options.batch_phase(0), options.batch_phase(1)));
  EXPECT_FALSE(at::equal(options.batch_phase(1), options.batch_phase(2)));
  EXPECT_TRUE(at::equal(options.batch_phase(4), options.batch_phase(5)));

  const SamplerState state = load_sampler_state(result.run_dir / kSamplerStateFile);
  EXPECT_TRUE(state.finished);
  EXPECT_EQ(state.batches_done, 6);
  EXPECT_EQ(state.seed, 11u);
  EXPECT_EQ(state.io_dat_bytes, fs::file_size(result.run_dir / "IO.dat"));
  EXPECT_TRUE(fs::exists(result.run_dir / "run.log"));
}

TEST(Sampler, SavesTheResolvedConfigForBrainspySmg) {
  testing::TempDir dir;
  const SampleResult result = sample(config(), debug_processor(), quiet_request(dir.path()));
  const YAML::Node saved = io::read_sampler_configs(result.run_dir / "sampler_configs.json");
  EXPECT_EQ(saved["save_directory"].as<std::string>(), result.run_dir.string());
  EXPECT_EQ(saved["seed"].as<std::uint64_t>(), 11u);
  EXPECT_EQ(saved["input_data"]["input_distribution"].as<std::string>(), "sawtooth");
  EXPECT_EQ(saved["input_data"]["batch_points"].as<int>(), 40);
  EXPECT_EQ(saved["input_data"]["amplitude"].as<std::vector<double>>().size(), 7u);
  EXPECT_DOUBLE_EQ(saved["input_data"]["offset"][2].as<double>(), -0.25);
  EXPECT_EQ(saved["input_data"]["phase"].as<std::vector<double>>().size(), 7u);  // 'random' resolved
  EXPECT_EQ(saved["driver"]["amplification"][0].as<double>(), 10.0);
  EXPECT_EQ(saved["driver"]["instruments_setup"]["activation_sampling_frequency"].as<double>(), 1000.0);
  // Read back, it describes the same gathering.
  const SamplingOptions again = SamplingOptions::from_config(Config(saved), *debug_processor());
  const SamplingOptions first = SamplingOptions::from_config(config(), *debug_processor());
  for (std::int64_t k = 0; k < 6; ++k) EXPECT_TRUE(at::equal(again.batch_inputs(k), first.batch_inputs(k)));
}

TEST(Sampler, PhasesDependOnlyOnSeedAndBatch) {
  const SamplingOptions a = SamplingOptions::from_config(config(), *debug_processor());
  const SamplingOptions b = SamplingOptions::from_config(config(), *debug_processor(), 12);
  EXPECT_FALSE(at::equal(a.batch_phase(0), b.batch_phase(0)));
  const SamplingOptions fixed = SamplingOptions::from_config(
      config("{phase: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], random_phase_shift_each: 0}"), *debug_processor());
  for (std::int64_t k = 0; k < 6; ++k) EXPECT_DOUBLE_EQ(fixed.batch_phase(k)[6].item<double>(), 0.7);
  // Without a phase, brainspy-smg's zeros; every third batch new phases.
  const SamplingOptions zeros =
      SamplingOptions::from_config(config("{phase: null, random_phase_shift_each: 3}"), *debug_processor());
  EXPECT_TRUE(at::equal(zeros.batch_phase(2), at::zeros({7}, at::kDouble)));
  EXPECT_FALSE(at::equal(zeros.batch_phase(3), at::zeros({7}, at::kDouble)));
  EXPECT_TRUE(at::equal(zeros.batch_phase(3), zeros.batch_phase(5)));
  // The same draw as the `random` first phases of seed 11 would give for group 1.
  EXPECT_TRUE(at::equal(zeros.batch_phase(3), a.batch_phase(2)));
  EXPECT_THROW(a.batch_phase(6), ArgumentError);
}

TEST(Sampler, ResumeAfterAnInterruptGivesByteIdenticalFiles) {
  testing::TempDir dir;
  const SampleResult full = sample(config(), debug_processor(), quiet_request(dir / "full"));

  install_interrupt_handlers();
  SampleRequest request = quiet_request(dir / "interrupted");
  request.after_batch = [](std::int64_t batch) {
    if (batch == 2) std::raise(SIGINT);
  };
  fs::path run_dir;
  try {
    sample(config(), debug_processor(), request);
    FAIL() << "expected InterruptedError";
  } catch (const InterruptedError& e) {
    EXPECT_THAT(e.what(), HasSubstr("3 of 6 batches are on disk"));
    EXPECT_THAT(e.what(), HasSubstr("brains sample --resume"));
  }
  clear_interrupt();
  for (const auto& entry : fs::directory_iterator(dir / "interrupted")) run_dir = entry.path();
  SamplerState state = load_sampler_state(run_dir / kSamplerStateFile);
  EXPECT_EQ(state.batches_done, 3);
  EXPECT_FALSE(state.finished);
  EXPECT_EQ(io::read_io_dat(run_dir / "IO.dat", 7, 1).inputs.size(0), 120);

  // A crash in the middle of the next batch leaves half a row behind.
  std::ofstream(run_dir / "IO.dat", std::ios::app) << "1.0e+00 2.0e+00 3.0";
  std::ofstream(run_dir / "batch_phases.dat", std::ios::app) << "3 1.0";

  const SampleResult resumed = resume_sampling(run_dir, debug_processor(), quiet_request(dir.path()));
  EXPECT_EQ(resumed.batches_measured, 3);
  EXPECT_EQ(resumed.run_dir, run_dir);
  EXPECT_EQ(slurp(run_dir / "IO.dat"), slurp(full.run_dir / "IO.dat"));
  EXPECT_EQ(slurp(run_dir / "batch_phases.dat"), slurp(full.run_dir / "batch_phases.dat"));
  EXPECT_TRUE(load_sampler_state(run_dir / kSamplerStateFile).finished);

  // Resuming a finished run measures nothing and changes nothing.
  const SampleResult again = resume_sampling(run_dir, debug_processor(), quiet_request(dir.path()));
  EXPECT_EQ(again.batches_measured, 0);
  EXPECT_EQ(slurp(run_dir / "IO.dat"), slurp(full.run_dir / "IO.dat"));
}

TEST(Sampler, ShardsConcatenateToTheWholeGathering) {
  testing::TempDir dir;
  const SampleResult full = sample(config(), debug_processor(), quiet_request(dir / "full"));
  std::string joined;
  for (std::int64_t i = 0; i < 4; ++i) {  // 6 batches in 4 shards: 1, 2, 1, 2 batches
    SampleRequest request = quiet_request(dir / ("shard" + std::to_string(i)));
    request.shard = Shard::parse(std::to_string(i) + "/4");
    const SampleResult part = sample(config(), debug_processor(), request);
    EXPECT_EQ(part.first_batch, i * 6 / 4);
    EXPECT_EQ(part.end_batch, (i + 1) * 6 / 4);
    const std::string text = slurp(part.run_dir / "IO.dat");
    joined += i == 0 ? text : text.substr(text.find('\n') + 1);
  }
  EXPECT_EQ(joined, slurp(full.run_dir / "IO.dat"));
  EXPECT_THROW(Shard::parse("4/4"), ArgumentError);
  EXPECT_THROW(Shard::parse("1/0"), ArgumentError);
  EXPECT_THROW(Shard::parse("a/2"), ArgumentError);
  EXPECT_THROW(Shard::parse("1"), ArgumentError);
  SampleRequest empty = quiet_request(dir / "empty");
  empty.shard = Shard::parse("0/7");  // 6 batches: shard 0 of 7 holds none
  EXPECT_THROW(sample(config(), debug_processor(), empty), ArgumentError);
}

// ---- bad input --------------------------------------------------------------------------

TEST(SamplerBadInput, VoltageRangesOfTheWrongLength) {
  const auto key = config_error_key([] {
    SamplingOptions::from_config(config("{}", "{activation_voltage_ranges: [[-1, 0.5], [-1, 0.5]]}"),
                                 *debug_processor());
  });
  EXPECT_EQ(key, "driver.instruments_setup.activation_voltage_ranges");
  try {
    SamplingOptions::from_config(config("{}", "{activation_voltage_ranges: [[-1, 0.5], [-1, 0.5]]}"),
                                 *debug_processor());
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("2 voltage ranges for 7 activation electrodes"));
  }
  EXPECT_EQ(config_error_key([] {
              SamplingOptions::from_config(
                  config("{}", "{activation_voltage_ranges: [[-1, 0.5], [-1, 0.5], [-1, 0.5], [-1, 0.5], [-1, "
                                   "0.5], [-0.5, 0.3], [0.3, -0.5]]}"),
                  *debug_processor());
            }),
            "driver.instruments_setup.activation_voltage_ranges.6");
}

TEST(SamplerBadInput, FewerFrequenciesThanElectrodes) {
  const auto key = config_error_key([] {
    SamplingOptions::from_config(config("{input_frequency: [2, 3, 5]}"), *debug_processor());
  });
  EXPECT_EQ(key, "input_data.input_frequency");
}

TEST(SamplerBadInput, BatchTimeTimesFsNotAnInteger) {
  EXPECT_EQ(config_error_key([] {
              SamplingOptions::from_config(config("{batch_time: 0.0405}"), *debug_processor());
            }),
            "input_data.batch_time");
  EXPECT_EQ(config_error_key([] {
              SamplingOptions::from_config(config("{ramp_time: 0.0101}"), *debug_processor());
            }),
            "input_data.ramp_time");
  EXPECT_EQ(config_error_key([] {
              SamplingOptions::from_config(config("{batch_time: 0}"), *debug_processor());
            }),
            "input_data.batch_time");
}

TEST(SamplerBadInput, OtherConfigMistakesNameTheirKey) {
  EXPECT_EQ(config_error_key([] { SamplingOptions::from_config(config("{amplitude: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}"), *debug_processor()); }),
            "input_data.offset");
  EXPECT_EQ(config_error_key([] { SamplingOptions::from_config(config("{phase: [0.1, 0.2]}"), *debug_processor()); }),
            "input_data.phase");
  EXPECT_EQ(config_error_key([] { SamplingOptions::from_config(config("{activation_electrode_no: 6}"), *debug_processor()); }),
            "input_data.activation_electrode_no");
  EXPECT_EQ(config_error_key([] { SamplingOptions::from_config(config("{input_distribution: square}"), *debug_processor()); }),
            "input_data.input_distribution");
  EXPECT_EQ(config_error_key([] { SamplingOptions::from_config(config("{number_batches: 0}"), *debug_processor()); }),
            "input_data.number_batches");
  // A signal wider than the device's range is refused before anything is measured.
  EXPECT_EQ(config_error_key([] {
              SamplingOptions::from_config(
                  config("{}", "{activation_voltage_ranges: [[-1.5, 0.6], [-1.2, 0.6], [-1.0, 0.5], [-1.2, 0.6], "
                                   "[-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]}"),
                  *debug_processor());
            }),
            "driver.instruments_setup.activation_voltage_ranges");
  EXPECT_EQ(config_error_key([] {
              SamplingOptions::from_config(config("{}", "{average_io_point_difference: false}"),
                                           *debug_processor());
            }),
            "driver.instruments_setup.average_io_point_difference");
  EXPECT_EQ(config_error_key([] { make_sampling_processor(Config::parse("processor_type: simulation\n")); }),
            "processor_type");
  EXPECT_EQ(config_error_key([] { make_sampling_processor(Config::parse("processor_type: simulation_debug\n")); }),
            "model_dir");
  // Without configured ranges, amplitude and offset follow from the processor's ranges.
  const SamplingOptions from_device = SamplingOptions::from_config(config("{}", "{activation_voltage_ranges: null}"), *debug_processor());
  EXPECT_NEAR(from_device.amplitude_v[6].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(from_device.offset_v[6].item<double>(), -0.2, 1e-6);
}

class ResumeBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    install_interrupt_handlers();
    SampleRequest request = quiet_request(dir_.path());
    request.after_batch = [](std::int64_t batch) {
      if (batch == 1) std::raise(SIGINT);
    };
    EXPECT_THROW(sample(config(), debug_processor(), request), InterruptedError);
    clear_interrupt();
    for (const auto& entry : fs::directory_iterator(dir_.path())) run_dir_ = entry.path();
  }
  // The FormatError of resuming, whose message must be one line.
  FormatError resume_error() {
    try {
      resume_sampling(run_dir_, debug_processor(), quiet_request(dir_.path()));
    } catch (const FormatError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return e;
    }
    ADD_FAILURE() << "expected FormatError";
    return FormatError("", "", "");
  }
  fs::path state_file() const { return run_dir_ / kSamplerStateFile; }

  testing::TempDir dir_;
  fs::path run_dir_;
};

TEST_F(ResumeBadInput, CorruptedStateFile) {
  std::string text = slurp(state_file());
  std::ofstream(state_file(), std::ios::trunc) << text.substr(0, text.size() / 2);
  const FormatError e = resume_error();
  EXPECT_EQ(e.file(), state_file().string());
  EXPECT_THAT(e.what(), HasSubstr("not valid JSON"));
}

TEST_F(ResumeBadInput, StateFileWithAMissingOrImpossibleValue) {
  const std::string text = slurp(state_file());
  std::string edited = text;
  edited.replace(edited.find("\"io_dat_bytes\""), 14, "\"io_dat_byte\"");
  std::ofstream(state_file(), std::ios::trunc) << edited;
  EXPECT_EQ(resume_error().position(), "key io_dat_bytes");

  edited = text;
  edited.replace(edited.find("\"batches_done\": 2"), 17, "\"batches_done\": 9");
  std::ofstream(state_file(), std::ios::trunc) << edited;
  EXPECT_EQ(resume_error().position(), "key batches_done");

  std::ofstream(state_file(), std::ios::trunc) << "{\"format\": \"something else\"}";
  EXPECT_THAT(resume_error().what(), HasSubstr("not a brains sampler state file"));

  fs::remove(state_file());
  EXPECT_THAT(resume_error().what(), HasSubstr("file missing"));
}

TEST_F(ResumeBadInput, DataShorterThanRecordedOrConfigChanged) {
  const auto io_dat = run_dir_ / "IO.dat";
  fs::resize_file(io_dat, fs::file_size(io_dat) - 10);
  const FormatError short_data = resume_error();
  EXPECT_EQ(short_data.file(), io_dat.string());
  EXPECT_THAT(short_data.what(), HasSubstr("data lost"));

  std::ofstream(run_dir_ / "sampler_configs.json", std::ios::app) << "# edited\n";
  const FormatError changed = resume_error();
  EXPECT_EQ(changed.file(), (run_dir_ / "sampler_configs.json").string());
  EXPECT_THAT(changed.what(), HasSubstr("changed since the run started"));
}

TEST_F(ResumeBadInput, RunDirectoryInUseByAnotherSampler) {
  const int fd = ::open((run_dir_ / "sampler.lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // as a running `brains sample` holds it
  try {
    resume_sampling(run_dir_, debug_processor(), quiet_request(dir_.path()));
    ADD_FAILURE() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("another brains sample is writing it"));
  }
  ::close(fd);
  EXPECT_EQ(resume_sampling(run_dir_, debug_processor(), quiet_request(dir_.path())).batches_measured, 4);
}

TEST(ProcessorWaveform, SimulationTypeHasNoWaveformPath) {
  EXPECT_THROW(testing::fixture_processor()->forward_waveform(at::zeros({4, 7}, at::kDouble)), ArgumentError);
  // simulation_debug: the safety check applies to ready-made waveforms.
  at::Tensor w = at::zeros({4, 7}, at::kDouble);
  w[1][0] = 1.0;  // outside [-1.2, 0.6]
  EXPECT_THROW(debug_processor()->forward_waveform(w), SafetyError);
}

}  // namespace
}  // namespace brains::smg
