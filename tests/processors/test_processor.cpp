// The Processor facade: parity with brains-py, plateau handling, the hardware path with the
// surrogate as driver, swaps, surrogate files and `brains predict`.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/io/torch_file.h"
#include "brains/processors/predict.h"
#include "brains/processors/processor.h"
#include "brains/processors/surrogate_file.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::processors {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;

Config processor_config(const std::string& type, int plateau, int slope,
                        const std::string& extra = "") {
  return Config::parse("processor_type: " + type + "\nwaveform:\n  plateau_length: " +
                       std::to_string(plateau) + "\n  slope_length: " + std::to_string(slope) +
                       "\n" + extra);
}

Processor load_processor(const std::string& seed, const std::string& model, const Config& configs,
                         bool average = true) {
  const auto file = SurrogateFile::load(reference_dir() / "parity" / seed / model);
  return Processor(configs, file.info, file.model_state_dict, average);
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor tolerance = 1e-5 * at::clamp_min(expected.abs(), 1.0);
  const at::Tensor excess = ((actual - expected).abs() - tolerance).max();
  EXPECT_LE(excess.item<double>(), 0.0) << "max |Δ| = " << (actual - expected).abs().max().item<double>();
}

// Same content, whatever the flow or block style.
bool same_yaml(const YAML::Node& a, const YAML::Node& b) {
  if (a.Type() != b.Type()) return false;
  if (a.IsScalar()) return a.Scalar() == b.Scalar();
  if (a.size() != b.size()) return false;
  if (a.IsSequence()) {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same_yaml(a[i], b[i])) return false;
    return true;
  }
  for (const auto& item : a)
    if (!b[item.first.Scalar()] || !same_yaml(item.second, b[item.first.Scalar()])) return false;
  return true;
}

class ProcessorParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessorParity, SurrogateForwardMatchesBrainsPy) {
  const auto data = io::read_npz(reference_dir() / "parity" / GetParam() / "surrogate_forward.npz");
  Processor processor = load_processor(GetParam(), "surrogate.pt", processor_config("simulation", 1, 0));
  at::NoGradGuard no_grad;
  expect_close(processor->forward(data.tensor("inputs")), data.tensor("outputs"));
}

TEST_P(ProcessorParity, SmgModelForwardMatchesBrainsPy) {
  const auto data = io::read_npz(reference_dir() / "parity" / GetParam() / "smg_model_forward.npz");
  Processor processor =
      load_processor(GetParam(), "smg_training_data.pt", processor_config("simulation", 1, 0));
  at::NoGradGuard no_grad;
  expect_close(processor->forward(data.tensor("inputs")), data.tensor("outputs"));
}

TEST_P(ProcessorParity, HardwarePathWithSurrogateDriverMatchesSimulation) {
  const auto data = io::read_npz(reference_dir() / "parity" / GetParam() / "surrogate_forward.npz");
  // Inputs inside the voltage ranges: the hardware path refuses anything else.
  Processor simulation = load_processor(GetParam(), "surrogate.pt", processor_config("simulation", 3, 2));
  const at::Tensor ranges = simulation->voltage_ranges();
  const at::Tensor inputs = at::max(at::min(data.tensor("inputs"), ranges.select(1, 1)), ranges.select(1, 0));
  Processor debug = load_processor(GetParam(), "surrogate.pt", processor_config("simulation_debug", 3, 2));
  at::NoGradGuard no_grad;
  EXPECT_FALSE(debug->is_hardware());
  expect_close(debug->forward(inputs), simulation->forward(inputs));
}

INSTANTIATE_TEST_SUITE_P(Seeds, ProcessorParity, ::testing::Values("seed1", "seed2", "seed3"));

TEST(Processor, PublicApi) {
  Processor processor = load_processor("seed1", "surrogate.pt", processor_config("simulation", 1, 0));
  EXPECT_EQ(processor->activation_electrode_count(), 7);
  EXPECT_EQ(processor->readout_electrode_count(), 1);
  EXPECT_FALSE(processor->is_hardware());
  EXPECT_EQ(processor->voltage_ranges().sizes(), (std::vector<std::int64_t>{7, 2}));
  EXPECT_NEAR(processor->voltage_ranges()[0][0].item<double>(), -1.1640546, 1e-6);
  EXPECT_NEAR(processor->clipping_value()[1].item<double>(), 68.91, 1e-4);
  // brains-py state-dict names, so DNPU state dicts from brains-py load.
  const auto parameters = processor->named_parameters();
  EXPECT_TRUE(parameters.contains("processor.model.raw_model.0.weight"));
  const auto buffers = processor->named_buffers();
  EXPECT_TRUE(buffers.contains("processor.voltage_ranges"));
  EXPECT_TRUE(buffers.contains("processor.amplification"));
}

TEST(Processor, PlateausAveragedOrKeptWithTargetsFormatted) {
  const at::Tensor inputs = at::rand({5, 7}) * 0.5 - 0.25;
  Processor points = load_processor("seed1", "surrogate.pt", processor_config("simulation", 1, 0));
  Processor averaged = load_processor("seed1", "surrogate.pt", processor_config("simulation", 4, 0));
  Processor kept = load_processor("seed1", "surrogate.pt", processor_config("simulation", 4, 0), false);
  at::NoGradGuard no_grad;
  const at::Tensor expected = points->forward(inputs);
  expect_close(averaged->forward(inputs), expected);
  const at::Tensor all = kept->forward(inputs);
  EXPECT_EQ(all.size(0), 20);
  expect_close(all, expected.repeat_interleave(4, 0));
  const at::Tensor targets = at::arange(5).unsqueeze(1);
  EXPECT_TRUE(at::equal(kept->format_targets(targets), targets.repeat_interleave(4, 0)));
  EXPECT_TRUE(at::equal(averaged->format_targets(targets), targets));
}

TEST(Processor, GradientsFlowToTheInputsInSimulation) {
  Processor processor = load_processor("seed2", "surrogate.pt", processor_config("simulation", 1, 0));
  const at::Tensor inputs = at::zeros({3, 7}).requires_grad_(true);
  processor->forward(inputs).sum().backward();
  ASSERT_TRUE(inputs.grad().defined());
  EXPECT_GT(inputs.grad().abs().sum().item<double>(), 0.0);
}

TEST(Processor, SwapKeepsTheApiAndTheAveraging) {
  Processor processor = load_processor("seed1", "surrogate.pt", processor_config("simulation", 2, 0));
  const auto file = SurrogateFile::load(reference_dir() / "parity/seed1/surrogate.pt");
  const at::Tensor inputs = at::zeros({4, 7});
  at::NoGradGuard no_grad;
  const at::Tensor before = processor->forward(inputs);
  processor->swap(processor_config("simulation_debug", 2, 1), file.info, file.model_state_dict);
  EXPECT_EQ(processor->processor_type(), "simulation_debug");
  expect_close(processor->forward(inputs), before);
  EXPECT_EQ(processor->named_children().size(), 1u);
}

TEST(Processor, BadInputsAreClearErrors) {
  Processor processor = load_processor("seed1", "surrogate.pt", processor_config("simulation", 1, 0));
  EXPECT_THROW(processor->forward(at::zeros({3, 6})), ArgumentError);
  at::Tensor nan_input = at::zeros({3, 7});
  nan_input[1][2] = std::numeric_limits<float>::quiet_NaN();
  try {
    processor->forward(nan_input);
    ADD_FAILURE() << "NaN input accepted";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("NaN or Inf"));
  }
  at::Tensor inf_input = at::zeros({3, 7});
  inf_input[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(processor->forward(inf_input), ArgumentError);
}

TEST(Processor, UnknownTypeListsTheValidOnes) {
  const auto file = SurrogateFile::load(reference_dir() / "parity/seed1/surrogate.pt");
  try {
    Processor(processor_config("simulaton", 1, 0), file.info, file.model_state_dict);
    ADD_FAILURE() << "unknown type accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "processor_type");
    EXPECT_THAT(e.what(), HasSubstr("'simulaton'"));
    EXPECT_THAT(e.what(), HasSubstr("simulation, simulation_debug"));
  }
}

TEST(Processor, SimulationNeedsInfo) {
  EXPECT_THROW(Processor(processor_config("simulation", 1, 0)), ConfigError);
}

TEST(Processor, EffectOverridesFromTheConfig) {
  Processor processor = load_processor(
      "seed1", "surrogate.pt",
      processor_config("simulation", 1, 0,
                       "electrode_effects:\n  amplification: [1.0]\n  clipping_value: [-0.5, 0.5]\n"));
  at::NoGradGuard no_grad;
  const at::Tensor outputs = processor->forward(at::rand({64, 7}) - 0.5);
  EXPECT_LE(outputs.abs().max().item<double>(), 0.5);
  const auto bad_ranges = [] {
    load_processor("seed1", "surrogate.pt",
                   processor_config("simulation", 1, 0,
                                    "electrode_effects:\n  voltage_ranges: [[-1, 1], [-1, 1]]\n"));
  };
  EXPECT_THROW(bad_ranges(), ConfigError);
  const auto bad_clipping = [] {
    load_processor("seed1", "surrogate.pt",
                   processor_config("simulation", 1, 0,
                                    "electrode_effects:\n  output_clipping: [5, -5]\n"));
  };
  EXPECT_THROW(bad_clipping(), ConfigError);
}

TEST(SurrogateFile, RoundTripKeepsInfoWeightsAndExtras) {
  testing::TempDir dir;
  const auto original = SurrogateFile::load(reference_dir() / "parity/seed1/smg_training_data.pt");
  original.save(dir / "training_data.pt");
  const auto copy = SurrogateFile::load(dir / "training_data.pt");
  EXPECT_TRUE(same_yaml(copy.info, original.info)) << YAML::Dump(copy.info);
  ASSERT_EQ(copy.model_state_dict.dict_items().size(), original.model_state_dict.dict_items().size());
  for (std::size_t i = 0; i < copy.model_state_dict.dict_items().size(); ++i) {
    const auto& [key, tensor] = copy.model_state_dict.dict_items()[i];
    EXPECT_EQ(key.as_string(), original.model_state_dict.dict_items()[i].first.as_string());
    EXPECT_TRUE(at::equal(tensor.tensor(), original.model_state_dict.dict_items()[i].second.tensor()));
  }
  EXPECT_TRUE(copy.extras.find("epoch"));
  // A processor built from the copy computes the same as brains-py.
  const auto data = io::read_npz(reference_dir() / "parity/seed1/smg_model_forward.npz");
  Processor processor(processor_config("simulation", 1, 0), copy.info, copy.model_state_dict);
  at::NoGradGuard no_grad;
  expect_close(processor->forward(data.tensor("inputs")), data.tensor("outputs"));
}

TEST(SurrogateFile, SavedFileLoadsInPythonTorch) {
  testing::TempDir dir;
  SurrogateFile::load(reference_dir() / "parity/seed2/surrogate.pt").save(dir / "training_data.pt");
  const auto result = testing::run_python(
      "import torch\n"
      "d = torch.load('" + (dir / "training_data.pt").string() + "')\n"
      "info = d['info']\n"
      "assert info['model_structure']['D_in'] == 7, info['model_structure']\n"
      "assert len(info['electrode_info']['activation_electrodes']['voltage_ranges']) == 7\n"
      "w = d['model_state_dict']['raw_model.0.weight']\n"
      "assert w.dtype == torch.float32 and w.shape[1] == 7, w.shape\n"
      "print('ok')\n");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "ok\n");
}

TEST(SurrogateFile, NotASurrogateIsAFormatError) {
  EXPECT_THROW(SurrogateFile::load(reference_dir() / "upstream-files/brainspy/random_state_dict.pt"),
               FormatError);
}

TEST(Predict, BatchedEqualsOneShot) {
  Processor processor = load_processor("seed3", "surrogate.pt", processor_config("simulation", 1, 0));
  const at::Tensor inputs = at::rand({1000, 7}, at::kDouble) - 0.5;
  const at::Tensor batched = predict(*processor, inputs, 64);
  at::NoGradGuard no_grad;
  expect_close(batched, processor->forward(inputs.to(at::kFloat)));
  EXPECT_THROW(predict(*processor, at::zeros({4, 5}), 64), ArgumentError);
  EXPECT_THROW(predict(*processor, inputs, 0), ArgumentError);
}

TEST(PredictCli, WritesOutputsMatchingBrainsPy) {
  testing::TempDir dir;
  const auto data = io::read_npz(reference_dir() / "parity/seed1/surrogate_forward.npz");
  io::write_npz(dir / "x.npz", std::vector<std::pair<std::string, at::Tensor>>{{"volts", data.tensor("inputs")}});
  const std::string model = (reference_dir() / "parity/seed1/surrogate.pt").string();
  const auto result = testing::run_brains("predict --quiet --model '" + model + "' --input '" +
                                          (dir / "x.npz").string() + "' --key volts --output '" +
                                          (dir / "y.npz").string() + "' --batch-size 128");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_close(io::read_npz(dir / "y.npz").tensor("outputs"), data.tensor("outputs"));

  const auto missing_key = testing::run_brains("predict --model '" + model + "' --input '" +
                                               (dir / "x.npz").string() + "' --output '" +
                                               (dir / "z.npz").string() + "'");
  EXPECT_EQ(missing_key.exit_code, 2);
  EXPECT_THAT(missing_key.err, HasSubstr("no entry 'inputs'"));
  EXPECT_THAT(missing_key.err, HasSubstr("volts"));

  io::write_npz(dir / "narrow.npz", std::vector<std::pair<std::string, at::Tensor>>{{"inputs", at::zeros({3, 5})}});
  const auto narrow = testing::run_brains("predict --model '" + model + "' --input '" +
                                          (dir / "narrow.npz").string() + "' --output '" +
                                          (dir / "z.npz").string() + "'");
  EXPECT_EQ(narrow.exit_code, 2);
  EXPECT_THAT(narrow.err, HasSubstr("brains: error: cannot predict"));
  EXPECT_FALSE(std::filesystem::exists(dir / "z.npz"));

  const auto bad_config = dir.write("p.yaml", "processor_type: simulation\nwaveform: {plateau_length: 1, slope_length: -2}\n");
  const auto negative = testing::run_brains("predict --model '" + model + "' --input '" +
                                            (dir / "x.npz").string() + "' --key volts --output '" +
                                            (dir / "z.npz").string() + "' --config '" + bad_config.string() + "'");
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_THAT(negative.err, HasSubstr("waveform.slope_length"));
}

}  // namespace
}  // namespace brains::processors
