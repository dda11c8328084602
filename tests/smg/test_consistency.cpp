// Consistency check on simulation_debug: an unchanged device reproduces its reference, a noisy
// one deviates by its noise, and every metric is per output.
#include "brains/smg/consistency.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "brains/core/error.h"
#include "brains/io/io_dat.h"
#include "brains/io/npz.h"
#include "brains/smg/sampler.h"
#include "support/fixture_surrogate.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const char* const kConfig = R"(data_name: consistency
seed: 3
plot_interval: 0
processor_type: simulation_debug
driver:
  instruments_setup:
    activation_sampling_frequency: 1000
input_data:
  input_distribution: sawtooth
  factor: 0.05
  batch_time: 0.05
  ramp_time: 0.01
  number_batches: 4
)";

processors::Processor debug_device(const std::string& effects = "") {
  std::string text = "processor_type: simulation_debug\n";
  if (!effects.empty()) text += "electrode_effects: {" + effects + "}\n";
  return processors::Processor(Config::parse(text), testing::fixture_info(), testing::fixture_state_dict());
}

using Arrays = std::vector<std::pair<std::string, at::Tensor>>;

// Samples 4 batches and stores the last 2 as the reference and all 4 as the charging
// signal, as post-processing does; returns the run directory.
fs::path sampled_run(const fs::path& out, processors::Processor device) {
  SampleRequest request;
  request.out = out;
  request.progress = false;
  const fs::path run = sample(Config::parse(kConfig), device, request).run_dir;
  const io::IoData data = io::read_io_dat(run / "IO.dat");
  const std::int64_t n = data.inputs.size(0);
  io::write_npz(run / "reference_batch.npz",
                Arrays{{"inputs", data.inputs.narrow(0, n / 2, n / 2)}, {"outputs", data.outputs.narrow(0, n / 2, n / 2)}});
  io::write_npz(run / "charging_signal.npz", Arrays{{"inputs", data.inputs}, {"outputs", data.outputs}});
  return run;
}

ConsistencyOptions options_for(const fs::path& run, std::int64_t repetitions) {
  ConsistencyOptions options;
  options.data_dir = run;
  options.repetitions = repetitions;
  return options;
}

TEST(Consistency, AnUnchangedDeviceReproducesItsReference) {
  testing::TempDir dir;
  const fs::path run = sampled_run(dir.path(), debug_device());
  const ConsistencyResult result =
      check_consistency(options_for(run, 2), debug_device(), testing::fixture_processor());
  ASSERT_EQ(result.results.sizes(), (std::vector<std::int64_t>{2, 100, 1}));
  EXPECT_EQ(result.deviations.max().item<double>(), 0.0);
  EXPECT_NEAR(result.correlation.min().item<double>(), 1.0, 1e-12);
  EXPECT_EQ(result.deviation_chargeup.sizes(), (std::vector<std::int64_t>{4, 1}));
  EXPECT_EQ(result.deviation_chargeup.max().item<double>(), 0.0);
  // The model is the device's own network without the ramps: float32 rounding apart.
  EXPECT_LT(result.model_deviations[0].item<double>(), 1e-4);
  EXPECT_GT(result.model_correlation[0].item<double>(), 0.999999);
  EXPECT_LT(result.device_model_deviations.max().item<double>(), 1e-4);
  for (const char* file : {"consistency_results.npz", "consistency_summary.json", "consistency_check.csv",
                           "deviations_histogram.csv", "deviations_while_charging_up.csv", "first_batch.csv", "run.log"})
    EXPECT_TRUE(fs::exists(result.run_dir / file)) << file;
  EXPECT_EQ(result.run_dir.parent_path(), run);
  const io::NpzFile npz = io::read_npz(result.run_dir / "consistency_results.npz");
  EXPECT_TRUE(at::equal(npz.tensor("results"), result.results));
  EXPECT_TRUE(at::equal(npz.tensor("model_deviations"), result.model_deviations));
}

TEST(Consistency, ANoisyDeviceDeviatesByItsNoise) {
  testing::TempDir dir;
  const fs::path run = sampled_run(dir.path(), debug_device());
  ConsistencyOptions options = options_for(run, 3);
  options.charge_device = false;
  const ConsistencyResult result = check_consistency(options, debug_device("noise: {type: gaussian, std: 0.5}"));
  // 100 samples per repetition: the RMSE of N(0, 0.5²) noise is 0.5 within ~10 %.
  for (std::int64_t t = 0; t < 3; ++t) EXPECT_NEAR(result.deviations[t][0].item<double>(), 0.5, 0.1);
  const double spread = io::read_io_dat(run / "IO.dat").outputs.narrow(0, 100, 100).std().item<double>();
  const double expected_r = spread / std::sqrt(spread * spread + 0.25);
  EXPECT_NEAR(result.correlation.mean().item<double>(), expected_r, 0.03);
  EXPECT_LT(result.correlation.max().item<double>(), 1.0);
  EXPECT_FALSE(result.deviation_chargeup.defined());
  EXPECT_FALSE(fs::exists(result.run_dir / "first_batch.png"));
  EXPECT_FALSE(fs::exists(result.run_dir / "first_batch.csv"));
}

TEST(Consistency, MetricsArePerOutput) {
  // A random two-output surrogate: each output is compared with its own reference.
  at::manual_seed(4);
  YAML::Node info = testing::fixture_info();
  info["model_structure"]["D_out"] = 2;
  info["electrode_info"]["electrode_no"] = 9;
  info["electrode_info"]["output_electrodes"]["electrode_no"] = 2;
  info["electrode_info"]["output_electrodes"]["amplification"] = std::vector<double>{10.0, 20.0};
  const processors::Processor device(Config::parse("processor_type: simulation_debug\n"), info);
  testing::TempDir dir;
  const fs::path run = sampled_run(dir.path(), device);
  // Output 1 of the reference replaced by its negative: r = +1 for output 0, −1 for output 1.
  const io::NpzFile stored = io::read_npz(run / "reference_batch.npz");
  at::Tensor outputs = stored.tensor("outputs").clone();
  outputs.select(1, 1).neg_();
  io::write_npz(run / "reference_batch.npz", Arrays{{"inputs", stored.tensor("inputs")}, {"outputs", outputs}});
  ConsistencyOptions options = options_for(run, 1);
  options.charge_device = false;
  const ConsistencyResult result = check_consistency(options, device);
  ASSERT_EQ(result.correlation.sizes(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_NEAR(result.correlation[0][0].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(result.correlation[0][1].item<double>(), -1.0, 1e-12);
  EXPECT_EQ(result.deviations[0][0].item<double>(), 0.0);
  const double rms1 = outputs.select(1, 1).pow(2).mean().sqrt().item<double>();
  EXPECT_NEAR(result.deviations[0][1].item<double>(), 2 * rms1, 1e-9 * rms1);
}

TEST(Consistency, BadReferenceFilesAreFormatErrors) {
  testing::TempDir dir;
  const fs::path run = sampled_run(dir.path(), debug_device());
  const io::NpzFile stored = io::read_npz(run / "reference_batch.npz");
  ConsistencyOptions options = options_for(run, 1);
  options.charge_device = false;
  // 70 samples: not a whole number of 50-sample batches.
  io::write_npz(run / "reference_batch.npz", Arrays{{"inputs", stored.tensor("inputs").narrow(0, 0, 70)},
                                                    {"outputs", stored.tensor("outputs").narrow(0, 0, 70)}});
  try {
    check_consistency(options, debug_device());
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), (run / "reference_batch.npz").string());
    EXPECT_THAT(e.what(), HasSubstr("70 samples is not a whole number of batches of 50 samples"));
  }
  io::write_npz(run / "reference_batch.npz", Arrays{{"inputs", stored.tensor("inputs").narrow(1, 0, 6)},
                                                    {"outputs", stored.tensor("outputs")}});
  EXPECT_THROW(check_consistency(options, debug_device()), FormatError);
  options.reference_batch_name = "missing.npz";
  EXPECT_THROW(check_consistency(options, debug_device()), FormatError);
  EXPECT_THROW(ConsistencyOptions::from_config(Config::parse("repetitions: 2\n")), ConfigError);
  EXPECT_THROW(ConsistencyOptions::from_config(Config::parse("data_dir: x\nrepetitions: 0\n")), ConfigError);
  EXPECT_EQ(ConsistencyOptions::from_config(Config::parse("main_dir: x\n")).data_dir, fs::path("x"));
}

TEST(Consistency, PearsonAndRmsePerColumn) {
  const at::Tensor a = at::tensor({1.0, 10.0, 2.0, 20.0, 3.0, 30.0}, at::kDouble).view({3, 2});
  const at::Tensor b = at::tensor({2.0, 30.0, 4.0, 20.0, 6.0, 10.0}, at::kDouble).view({3, 2});
  const at::Tensor r = pearson_per_output(a, b);
  EXPECT_NEAR(r[0].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(r[1].item<double>(), -1.0, 1e-12);
  const at::Tensor e = rmse_per_output(a, b);
  EXPECT_NEAR(e[0].item<double>(), std::sqrt((1.0 + 4.0 + 9.0) / 3), 1e-12);
  EXPECT_NEAR(e[1].item<double>(), std::sqrt((400.0 + 0.0 + 400.0) / 3), 1e-12);
}

}  // namespace
}  // namespace brains::smg
