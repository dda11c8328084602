// Boolean tasks on the fixture surrogate: gates found by both algorithms, VC dimension 4,
// run directories, the CLI and bad inputs.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/processors/surrogate_file.h"
#include "brains/tasks/boolean.h"
#include "brains/tasks/boolean_data.h"
#include "support/fixture_surrogate.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::tasks {
namespace {

using ::testing::HasSubstr;

BooleanTaskOptions options_for(const std::string& algorithm_yaml) {
  return BooleanTaskOptions::from_config(
      Config::parse("max_attempts: 3\nseed: 1\nprocessor: {input_indices: [3, 4]}\nalgorithm:\n" + algorithm_yaml));
}

const char* const kGenetic = "  optimizer: genetic\n  criterion: corrsig_fit\n  epochs: 100\n  partition: [4, 22]\n";
const char* const kGradient =
    "  type: gradient\n  criterion: corrsig\n  epochs: 400\n  learning_rate: 0.01\n  constraint_control_voltages: regul\n";

TEST(BooleanTask, GeneticAlgorithmFindsXor) {
  BooleanTask task(options_for(kGenetic), testing::fixture_processor());
  const GateResult xor_gate = task.find_gate(gate_by_name("XOR"), 1.0);
  EXPECT_TRUE(xor_gate.found) << "accuracy " << xor_gate.accuracy_percent;
  EXPECT_EQ(xor_gate.accuracy_percent, 100.0);
  EXPECT_EQ(xor_gate.gate, "0110");
  EXPECT_EQ(xor_gate.outputs.sizes(), (std::vector<std::int64_t>{4, 1}));
}

TEST(BooleanTask, GradientDescentFindsXor) {
  BooleanTask task(options_for(kGradient), testing::fixture_processor());
  const GateResult xor_gate = task.find_gate(gate_by_name("XOR"), 1.0);
  EXPECT_TRUE(xor_gate.found) << "accuracy " << xor_gate.accuracy_percent;
  EXPECT_EQ(xor_gate.accuracy_percent, 100.0);
}

TEST(BooleanTask, VcDimensionFourCapacity) {
  BooleanTask task(options_for(kGenetic), testing::fixture_processor());
  const VcDimensionResult result = task.vc_dimension(4);
  EXPECT_EQ(result.gates.size(), 14u);
  EXPECT_DOUBLE_EQ(result.threshold, 1.0 - 0.5 / 4);
  std::int64_t found = 0;
  for (const auto& gate : result.gates) found += gate.found;
  EXPECT_DOUBLE_EQ(result.capacity, found / 14.0);
  // The fixture device can realise every 2-input gate.
  EXPECT_EQ(result.capacity, 1.0);
  std::cout << "VC dimension 4 on the fixture: capacity " << result.capacity << " in " << result.seconds << " s\n";

  testing::TempDir dir;
  write_vc_dimension_result(dir.path(), result);
  const auto npz = io::read_npz(dir / "results.npz");
  EXPECT_EQ(npz.tensor("accuracies").size(0), 14);
  EXPECT_TRUE(std::filesystem::exists(dir / "summary.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "accuracy_vs_correlation.csv"));
}

TEST(BooleanTask, BadOptionsAreConfigErrors) {
  EXPECT_THROW(BooleanTaskOptions::from_config(Config::parse("max_attempts: 0\n")), ConfigError);
  EXPECT_THROW(BooleanTaskOptions::from_config(Config::parse("processor: {input_indices: [1, 2, 3]}\n")), ConfigError);
  EXPECT_THROW(BooleanTaskOptions::from_config(Config::parse("algorithm: {type: annealing}\n")), ConfigError);
  try {
    BooleanTask(BooleanTaskOptions::from_config(Config::parse("algorithm: {optimizer: genetic, criterion: nope}\n")),
                testing::fixture_processor());
    ADD_FAILURE() << "unknown criterion accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown criterion 'nope' (valid:"));
  }
  BooleanTask task(options_for(kGenetic), testing::fixture_processor());
  EXPECT_THROW(task.find_gate(gate_by_name("AND"), 1.5), ArgumentError);
}

TEST(BooleanCli, FindsAGateAndWritesARunDirectory) {
  testing::TempDir dir;
  processors::SurrogateFile surrogate;
  surrogate.info = testing::fixture_info();
  surrogate.model_state_dict = testing::fixture_state_dict();
  surrogate.extras = io::PyValue::dict();
  surrogate.save(dir / "fixture.pt");
  const auto config = dir.write("boolean.yaml", "max_attempts: 3\nprocessor:\n  processor_type: simulation\n"
                                                "  input_indices: [3, 4]\n  waveform: {plateau_length: 1, slope_length: 0}\n");
  const auto result = testing::run_brains("boolean --quiet --gate AND --algorithm ga --seed 3 --model '" +
                                          (dir / "fixture.pt").string() + "' --config '" + config.string() +
                                          "' --out '" + (dir / "runs").string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("0001  found"));
  ASSERT_EQ(std::distance(std::filesystem::directory_iterator(dir / "runs"), {}), 1);
  const auto run = std::filesystem::directory_iterator(dir / "runs")->path();
  EXPECT_TRUE(std::filesystem::exists(run / "summary.json"));
  EXPECT_TRUE(std::filesystem::exists(run / "config.yaml"));

  const auto bad_gate = testing::run_brains("boolean --gate XAND --model '" + (dir / "fixture.pt").string() + "'");
  EXPECT_EQ(bad_gate.exit_code, 2);
  EXPECT_THAT(bad_gate.err, HasSubstr("brains: error: unknown gate 'XAND'"));
  const auto no_model = testing::run_brains("boolean --gate AND --out '" + (dir / "runs").string() + "'");
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_THAT(no_model.err, HasSubstr("--model"));
  const auto bad_algorithm = testing::run_brains("boolean --algorithm sa --model '" + (dir / "fixture.pt").string() + "'");
  EXPECT_EQ(bad_algorithm.exit_code, 2);
}

}  // namespace
}  // namespace brains::tasks
