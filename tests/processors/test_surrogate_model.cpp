// SurrogateModel and NeuralNetworkModel: parity with brains-py / brainspy-smg on the reference
// files, model_structure defaults and validation, the electrode effects (default, explicit and
// null), Gaussian noise, and the inference path against the autograd path.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/activation.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <string>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/io/torch_file.h"
#include "brains/processors/electrode_info.h"
#include "brains/processors/neural_network_model.h"
#include "brains/processors/state_dict.h"
#include "brains/processors/surrogate_model.h"
#include "support/temp_dir.h"

namespace brains::processors {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;

// ---------------------------------------------------------------------------------------
// Helpers

// Captures what the logger writes to stderr while alive.
class StderrCapture {
 public:
  StderrCapture() { ::testing::internal::CaptureStderr(); }
  ~StderrCapture() {
    if (!done_) ::testing::internal::GetCapturedStderr();
  }
  std::string text() {
    done_ = true;
    return ::testing::internal::GetCapturedStderr();
  }
  int warnings() {
    const std::string all = text();
    int count = 0;
    for (std::size_t at = all.find("warning:"); at != std::string::npos;
         at = all.find("warning:", at + 1))
      ++count;
    return count;
  }

 private:
  bool done_ = false;
};

struct ReferenceSurrogate {
  Config info;
  io::PyValue info_value;
  io::PyValue state_dict;
};

ReferenceSurrogate load_reference(const std::string& seed, const std::string& file) {
  const io::PyValue content = io::load_torch_file(reference_dir() / "parity" / seed / file);
  return {Config(io::to_yaml(content.at("info")), "info"), content.at("info"),
          content.at("model_state_dict")};
}

SurrogateModel build(const ReferenceSurrogate& reference, const std::optional<Config>& effects) {
  SurrogateModel model(ModelStructure::from_config(reference.info.at("model_structure")));
  load_state_dict(*model->model, reference.state_dict, "model_state_dict");
  model->set_effects(ElectrodeInfo::from_config(reference.info.at("electrode_info")), effects);
  return model;
}

// |Δ| ≤ 1e-5·max(1, |y|), DESIGN.md's parity tolerance.
void expect_close(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor tolerance = 1e-5 * at::clamp_min(expected.abs(), 1.0);
  const at::Tensor excess = ((actual - expected).abs() - tolerance).max();
  EXPECT_LE(excess.item<double>(), 0.0)
      << "max |Δ| = " << (actual - expected).abs().max().item<double>();
}

Config effects_config(const std::string& yaml) {
  return Config(Config::parse(yaml).node(), "processor.electrode_effects");
}

Config structure_config(const std::string& yaml) {
  return Config(Config::parse(yaml).node(), "model_structure");
}

// brains-py's test_utils custom-model info: 5 electrodes at [-1.2, 0.6], 2 at [-0.7, 0.3].
const char* kInfoYaml = R"(
electrode_no: 8
activation_electrodes:
  electrode_no: 7
  voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6],
                   [-0.7, 0.3], [-0.7, 0.3]]
output_electrodes:
  electrode_no: 1
  amplification: [28.5]
  clipping_value: [-114, 114]
)";

ElectrodeInfo test_info() {
  return ElectrodeInfo::from_config(Config(Config::parse(kInfoYaml).node(), "info.electrode_info"));
}

ModelStructure small_structure(const std::string& activation = "relu") {
  ModelStructure structure;
  structure.hidden_sizes = {20, 20};
  structure.activation = activation;
  return structure;
}

SurrogateModel test_surrogate(const std::optional<Config>& effects = std::nullopt) {
  at::manual_seed(7);
  SurrogateModel model(small_structure());
  model->set_effects(test_info(), effects);
  return model;
}

std::vector<double> values(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.detach().to(at::kDouble).contiguous().reshape({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

// ---------------------------------------------------------------------------------------
// Parity with the reference implementation

class SurrogateParity : public ::testing::TestWithParam<std::string> {};

// Processor(simulation, P=1, S=0) with the info's amplification a and clipping [−3a, 3a].
TEST_P(SurrogateParity, ForwardWithAmplificationAndClippingMatchesBrainsPy) {
  const ReferenceSurrogate reference = load_reference(GetParam(), "surrogate.pt");
  const double a =
      reference.info.at("electrode_info").at("output_electrodes").get<std::vector<double>>(
          "amplification")[0];
  SurrogateModel model = build(
      reference, effects_config(fmt::format("output_clipping: [{:.17g}, {:.17g}]", -3 * a, 3 * a)));
  const io::NpzFile data =
      io::read_npz(reference_dir() / "parity" / GetParam() / "surrogate_forward.npz");
  const at::Tensor inputs = data.tensor("inputs");
  const at::Tensor expected = data.tensor("outputs");

  {
    at::NoGradGuard no_grad;  // the inference path
    expect_close(model->forward(inputs), expected);
  }
  // The autograd path (training control voltages needs gradients w.r.t. the inputs).
  const at::Tensor x = inputs.clone().requires_grad_(true);
  const at::Tensor y = model->forward(x);
  ASSERT_TRUE(y.requires_grad());
  expect_close(y.detach(), expected);
}

// A file written by brainspy-smg's own training entry point (clipping_value None).
TEST_P(SurrogateParity, SmgTrainingFileForwardMatchesBrainsPy) {
  const ReferenceSurrogate reference = load_reference(GetParam(), "smg_training_data.pt");
  SurrogateModel model = build(reference, std::nullopt);
  EXPECT_FALSE(reference.info.at("electrode_info").at("output_electrodes").has("clipping_value"));
  const io::NpzFile data =
      io::read_npz(reference_dir() / "parity" / GetParam() / "smg_model_forward.npz");
  at::NoGradGuard no_grad;
  expect_close(model->forward(data.tensor("inputs")), data.tensor("outputs"));
}

TEST_P(SurrogateParity, InfoVoltageRangesAreTheFilesFloat32Values) {
  const ReferenceSurrogate reference = load_reference(GetParam(), "surrogate.pt");
  const ElectrodeInfo info = ElectrodeInfo::from_config(reference.info.at("electrode_info"));
  const at::Tensor stored = reference.info_value.at("electrode_info")
                                .at("activation_electrodes")
                                .at("voltage_ranges")
                                .tensor();
  EXPECT_TRUE(at::equal(info.voltage_ranges, stored.to(at::kFloat)));
  EXPECT_EQ(info.activation_electrode_no, 7);
  EXPECT_EQ(info.output_electrode_no, 1);
  ASSERT_TRUE(info.clipping_value);
  EXPECT_DOUBLE_EQ(info.clipping_value->second, -info.clipping_value->first);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SurrogateParity, ::testing::Values("seed1", "seed2", "seed3"));

// ---------------------------------------------------------------------------------------
// model_structure

TEST(ModelStructure, NullTakesAllDefaultsWithFourWarnings) {
  StderrCapture capture;
  const ModelStructure structure =
      ModelStructure::from_config(Config(YAML::Node(YAML::NodeType::Null), "model_structure"));
  EXPECT_EQ(capture.warnings(), 4);
  EXPECT_EQ(structure.d_in, 7);
  EXPECT_EQ(structure.d_out, 1);
  EXPECT_EQ(structure.hidden_sizes, std::vector<std::int64_t>(6, 90));
  EXPECT_EQ(structure.activation, "relu");
  EXPECT_EQ(NeuralNetworkModel(structure)->raw_model->size(), 13u);
}

TEST(ModelStructure, WarningsNameTheMissingKeys) {
  StderrCapture capture;
  ModelStructure::from_config(structure_config("D_in: 7\nD_out: 1\n"));
  const std::string text = capture.text();
  EXPECT_THAT(text, HasSubstr("model_structure.hidden_sizes"));
  EXPECT_THAT(text, HasSubstr("model_structure.activation"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("D_in")));
}

TEST(ModelStructure, FullStructureGivesNoWarnings) {
  StderrCapture capture;
  const ModelStructure structure = ModelStructure::from_config(
      structure_config("D_in: 4\nD_out: 2\nhidden_sizes: [10, 20]\nactivation: elu\n"));
  EXPECT_EQ(capture.warnings(), 0);
  EXPECT_EQ(structure.d_in, 4);
  EXPECT_EQ(structure.d_out, 2);
  EXPECT_EQ(structure.hidden_sizes, (std::vector<std::int64_t>{10, 20}));
  EXPECT_EQ(structure.activation, "elu");
}

TEST(ModelStructure, YamlRoundTrip) {
  ModelStructure structure = small_structure("hard-tanh");
  structure.d_in = 5;
  const ModelStructure back =
      ModelStructure::from_config(Config(structure.to_yaml(), "model_structure"));
  EXPECT_EQ(back.d_in, 5);
  EXPECT_EQ(back.hidden_sizes, structure.hidden_sizes);
  EXPECT_EQ(back.activation, "hard-tanh");
}

struct BadStructure {
  const char* yaml;
  const char* key_path;
};

void PrintTo(const BadStructure& bad, std::ostream* out) { *out << bad.yaml; }

class ModelStructureErrors : public ::testing::TestWithParam<BadStructure> {};

TEST_P(ModelStructureErrors, NameTheKeyPath) {
  // A valid structure with the bad key replaced.
  YAML::Node node = YAML::Load("D_in: 7\nD_out: 1\nhidden_sizes: [90]\nactivation: relu\n");
  for (const auto& item : YAML::Load(GetParam().yaml)) node[item.first.Scalar()] = item.second;
  try {
    ModelStructure::from_config(Config(node, "info.model_structure"));
    FAIL() << "no error for " << GetParam().yaml;
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key_path(), GetParam().key_path) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("expected"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, ModelStructureErrors,
    ::testing::Values(BadStructure{"D_in: 7.5", "info.model_structure.D_in"},
                      BadStructure{"D_in: '7'", "info.model_structure.D_in"},
                      BadStructure{"D_in: true", "info.model_structure.D_in"},
                      BadStructure{"D_in: 0", "info.model_structure.D_in"},
                      BadStructure{"D_out: -2", "info.model_structure.D_out"},
                      BadStructure{"D_out: [1]", "info.model_structure.D_out"},
                      BadStructure{"hidden_sizes: [90, -1]", "info.model_structure.hidden_sizes[1]"},
                      BadStructure{"hidden_sizes: [90, 4.5]", "info.model_structure.hidden_sizes[1]"},
                      BadStructure{"hidden_sizes: []", "info.model_structure.hidden_sizes"},
                      BadStructure{"hidden_sizes: 90", "info.model_structure.hidden_sizes"},
                      BadStructure{"activation: foo", "info.model_structure.activation"},
                      BadStructure{"activation: [relu]", "info.model_structure.activation"}));

TEST(ModelStructure, NonMappingIsAConfigError) {
  try {
    ModelStructure::from_config(Config(YAML::Load("relu"), "info.model_structure"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key_path(), "info.model_structure");
  }
  EXPECT_THROW(ModelStructure::from_config(Config(YAML::Load("[7, 1]"), "model_structure")),
               ConfigError);
}

// ---------------------------------------------------------------------------------------
// NeuralNetworkModel

TEST(NeuralNetworkModel, StateDictKeysFollowBrainsPy) {
  ModelStructure structure;
  structure.hidden_sizes = {90, 90, 90};
  NeuralNetworkModel model(structure);
  std::vector<std::string> keys;
  for (const auto& item : model->named_parameters()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "raw_model.0.weight", "raw_model.0.bias", "raw_model.2.weight",
                      "raw_model.2.bias", "raw_model.4.weight", "raw_model.4.bias",
                      "raw_model.6.weight", "raw_model.6.bias"}));
  EXPECT_EQ(model->named_parameters()["raw_model.6.weight"].sizes(), (at::IntArrayRef{1, 90}));
}

TEST(NeuralNetworkModel, ActivationNamesMapToModules) {
  const auto is = [](const std::string& name, auto holder_type) {
    using Holder = decltype(holder_type);
    NeuralNetworkModel model(small_structure(name));
    return model->raw_model->ptr(1)->as<Holder>() != nullptr &&
           model->raw_model->ptr(3)->as<Holder>() != nullptr;
  };
  EXPECT_TRUE(is("relu", torch::nn::ReLU{nullptr}));
  EXPECT_TRUE(is("elu", torch::nn::ELU{nullptr}));
  EXPECT_TRUE(is("tanh", torch::nn::Tanh{nullptr}));
  EXPECT_TRUE(is("hard-tanh", torch::nn::Hardtanh{nullptr}));
  EXPECT_TRUE(is("sigmoid", torch::nn::Sigmoid{nullptr}));
  // No activation after the output layer.
  EXPECT_EQ(NeuralNetworkModel(small_structure())->raw_model->size(), 5u);
}

TEST(NeuralNetworkModel, ForwardActsOnTheLastDimension) {
  NeuralNetworkModel model(small_structure());
  at::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(at::rand({7})).sizes(), (at::IntArrayRef{1}));
  EXPECT_EQ(model->forward(at::rand({4, 3, 7})).sizes(), (at::IntArrayRef{4, 3, 1}));
  EXPECT_EQ(model->forward(at::rand({0, 7})).sizes(), (at::IntArrayRef{0, 1}));
  EXPECT_THROW(model->forward(at::rand({4, 6})), ArgumentError);
}

TEST(NeuralNetworkModel, PrettyPrint) {
  std::ostringstream text;
  NeuralNetworkModel(small_structure("tanh"))->pretty_print(text);
  EXPECT_EQ(text.str(),
            "brains::NeuralNetworkModel(D_in=7, hidden_sizes=[20,20], D_out=1, activation=tanh)");
}

// The inference path (chunks, in-place activations, threads) computes what the module does.
class InferencePath : public ::testing::TestWithParam<std::string> {};

TEST_P(InferencePath, MatchesTheAutogradPath) {
  at::manual_seed(3);
  ModelStructure structure;
  structure.hidden_sizes = {90, 90, 90, 90, 90};
  structure.activation = GetParam();
  NeuralNetworkModel model(structure);
  const int threads = at::get_num_threads();
  for (int thread_count : {1, 2}) {
    at::set_num_threads(thread_count);
    for (std::int64_t rows : {1, 63, 1024, 1025, 5000}) {
      const at::Tensor x = at::rand({rows, 7}) * 2 - 1;
      const at::Tensor reference = model->forward(x);  // grad mode on, weights require grad
      ASSERT_TRUE(reference.requires_grad());
      at::NoGradGuard no_grad;
      const at::Tensor fast = model->forward(x);
      EXPECT_FALSE(fast.requires_grad());
      EXPECT_TRUE(at::allclose(fast, reference.detach(), 1e-5, 1e-6))
          << rows << " rows, " << thread_count << " threads";
    }
  }
  at::set_num_threads(threads);
}

INSTANTIATE_TEST_SUITE_P(Activations, InferencePath,
                         ::testing::Values("relu", "elu", "tanh", "hard-tanh", "sigmoid"));

TEST(NeuralNetworkModel, FrozenWeightsAndPlainInputsTakeTheInferencePath) {
  NeuralNetworkModel model(small_structure());
  for (auto& parameter : model->parameters()) parameter.requires_grad_(false);
  EXPECT_FALSE(model->forward(at::rand({8, 7})).requires_grad());
  // ...but inputs that require grad are recorded.
  EXPECT_TRUE(model->forward(at::rand({8, 7}).requires_grad_(true)).requires_grad());
}

TEST(NeuralNetworkModel, GradientsFlowToTheInputs) {
  SurrogateModel model = test_surrogate();
  for (auto& parameter : model->parameters()) parameter.requires_grad_(false);
  const at::Tensor x = (at::rand({16, 7}) * 0.2).requires_grad_(true);
  model->forward(x).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().sizes(), x.sizes());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
}

TEST(NeuralNetworkModel, DoubleInputsUseTheModule) {
  NeuralNetworkModel model(small_structure());
  model->to(at::kDouble);
  at::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(at::rand({3, 7}, at::kDouble)).scalar_type(), at::kDouble);
}

// ---------------------------------------------------------------------------------------
// Electrode info

TEST(ElectrodeInfo, YamlRoundTrip) {
  const ElectrodeInfo info = test_info();
  const ElectrodeInfo back = ElectrodeInfo::from_config(Config(info.to_yaml(), "electrode_info"));
  EXPECT_EQ(back.electrode_no, 8);
  EXPECT_EQ(back.activation_electrode_no, 7);
  EXPECT_TRUE(at::equal(back.voltage_ranges, info.voltage_ranges));
  EXPECT_EQ(back.amplification, std::vector<double>{28.5});
  ASSERT_TRUE(back.clipping_value);
  EXPECT_EQ(*back.clipping_value, std::make_pair(-114.0, 114.0));
}

TEST(ElectrodeInfo, NullClippingValueMeansNoClipping) {
  YAML::Node node = Config::parse(kInfoYaml).node();
  node["output_electrodes"]["clipping_value"] = YAML::Node(YAML::NodeType::Null);
  EXPECT_FALSE(ElectrodeInfo::from_config(Config(node, "electrode_info")).clipping_value);
}

struct BadInfo {
  const char* section;
  const char* key;
  const char* value;
  const char* key_path;
};

void PrintTo(const BadInfo& bad, std::ostream* out) {
  *out << bad.key << ": " << bad.value;
}

class ElectrodeInfoErrors : public ::testing::TestWithParam<BadInfo> {};

TEST_P(ElectrodeInfoErrors, NameTheKeyPath) {
  YAML::Node node = Config::parse(kInfoYaml).node();
  node[GetParam().section][GetParam().key] = YAML::Load(GetParam().value);
  try {
    ElectrodeInfo::from_config(Config(node, "info.electrode_info"));
    FAIL() << GetParam().key << ": " << GetParam().value;
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key_path(), GetParam().key_path) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, ElectrodeInfoErrors,
    ::testing::Values(
        BadInfo{"output_electrodes", "clipping_value", "[5, -5]",
                "info.electrode_info.output_electrodes.clipping_value"},
        BadInfo{"output_electrodes", "clipping_value", "[5]",
                "info.electrode_info.output_electrodes.clipping_value"},
        BadInfo{"output_electrodes", "amplification", "[1, 2]",
                "info.electrode_info.output_electrodes.amplification"},
        BadInfo{"output_electrodes", "electrode_no", "0",
                "info.electrode_info.output_electrodes.electrode_no"},
        BadInfo{"activation_electrodes", "voltage_ranges", "[[-1, 1], [-1, 1]]",
                "info.electrode_info.activation_electrodes.voltage_ranges"},
        BadInfo{"activation_electrodes", "voltage_ranges",
                "[[-1, 1], [-1, 1], [1, -1], [-1, 1], [-1, 1], [-1, 1], [-1, 1]]",
                "info.electrode_info.activation_electrodes.voltage_ranges[2]"},
        BadInfo{"activation_electrodes", "voltage_ranges",
                "[[-1, 1], [-1, 1], [-1, 1], [-1, .nan], [-1, 1], [-1, 1], [-1, 1]]",
                "info.electrode_info.activation_electrodes.voltage_ranges[3][1]"}));

// ---------------------------------------------------------------------------------------
// Effects: default / explicit / null

TEST(SurrogateEffects, AbsentOrDefaultTakesTheInfo) {
  for (const std::optional<Config>& effects :
       {std::optional<Config>{}, std::optional<Config>{effects_config("{}")},
        std::optional<Config>{effects_config("amplification: default\noutput_clipping: default\n"
                                             "voltage_ranges: default\nnoise: {type: default}\n")}}) {
    StderrCapture capture;
    SurrogateModel model = test_surrogate(effects);
    EXPECT_EQ(capture.warnings(), 0);
    ASSERT_TRUE(model->amplification());
    EXPECT_EQ(values(*model->amplification()), std::vector<double>{28.5});
    EXPECT_EQ(values(model->clipping_value()), (std::vector<double>{-114, 114}));
    EXPECT_TRUE(at::equal(model->voltage_ranges(), test_info().voltage_ranges));
    EXPECT_FALSE(model->noise_std());
  }
}

TEST(SurrogateEffects, ExplicitValuesOverrideWithAWarning) {
  StderrCapture capture;
  SurrogateModel model = test_surrogate(effects_config(
      "amplification: [10]\noutput_clipping: [-50, 40]\nnoise: {type: gaussian, std: 0.5}\n"
      "voltage_ranges: [[-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-0.5, 0.5]]\n"));
  EXPECT_EQ(capture.warnings(), 3);  // amplification, clipping and voltage ranges
  EXPECT_EQ(values(*model->amplification()), std::vector<double>{10});
  EXPECT_EQ(values(model->clipping_value()), (std::vector<double>{-50, 40}));
  EXPECT_EQ(values(model->voltage_ranges()[6]), (std::vector<double>{-0.5, 0.5}));
  EXPECT_EQ(model->noise_std(), 0.5);
}

TEST(SurrogateEffects, NullSwitchesEffectsOffButKeepsVoltageRanges) {
  StderrCapture capture;
  SurrogateModel model = test_surrogate(effects_config(
      "amplification: null\noutput_clipping: null\nvoltage_ranges: null\nnoise: null\n"));
  EXPECT_EQ(capture.warnings(), 3);
  EXPECT_FALSE(model->amplification());
  EXPECT_EQ(values(model->clipping_value()),
            (std::vector<double>{-INFINITY, INFINITY}));
  EXPECT_TRUE(at::equal(model->voltage_ranges(), test_info().voltage_ranges));
  EXPECT_FALSE(model->noise_std());
  // Without effects the surrogate is the bare network.
  at::NoGradGuard no_grad;
  const at::Tensor x = at::rand({32, 7});
  EXPECT_TRUE(at::equal(model->forward(x), model->model->forward(x)));
}

TEST(SurrogateEffects, InfoWithoutClippingGivesNoClipping) {
  ElectrodeInfo info = test_info();
  info.clipping_value.reset();
  SurrogateModel model(small_structure());
  model->set_effects(info, std::nullopt);
  EXPECT_EQ(values(model->clipping_value()), (std::vector<double>{-INFINITY, INFINITY}));
}

TEST(SurrogateEffects, ClippingValueSpellingIsAccepted) {
  EXPECT_EQ(values(test_surrogate(effects_config("clipping_value: [-7, 7]"))->clipping_value()),
            (std::vector<double>{-7, 7}));
  EXPECT_EQ(values(test_surrogate(effects_config("clipping_value: null"))->clipping_value()),
            (std::vector<double>{-INFINITY, INFINITY}));
  StderrCapture capture;
  SurrogateModel both =
      test_surrogate(effects_config("output_clipping: [-3, 3]\nclipping_value: [-7, 7]"));
  EXPECT_THAT(capture.text(), HasSubstr("processor.electrode_effects.clipping_value: ignored"));
  EXPECT_EQ(values(both->clipping_value()), (std::vector<double>{-3, 3}));
}

TEST(SurrogateEffects, ForwardAmplifiesThenClips) {
  SurrogateModel model = test_surrogate(effects_config("amplification: [1000]\noutput_clipping: [-2, 3]"));
  at::NoGradGuard no_grad;
  const at::Tensor x = at::rand({256, 7}) * 2 - 1;
  const at::Tensor y = model->forward(x);
  const at::Tensor expected = (model->model->forward(x) * 1000).clamp(-2, 3);
  EXPECT_TRUE(at::allclose(y, expected));
  EXPECT_LE(y.max().item<float>(), 3.0f);
  EXPECT_GE(y.min().item<float>(), -2.0f);
  EXPECT_TRUE(((y == 3.0f) | (y == -2.0f)).any().item<bool>());  // the clipping is exercised
}

struct BadEffect {
  const char* yaml;
  const char* key_path;
};

void PrintTo(const BadEffect& bad, std::ostream* out) {
  std::string text = bad.yaml;
  std::replace(text.begin(), text.end(), '\n', ' ');
  *out << text;
}

class SurrogateEffectErrors : public ::testing::TestWithParam<BadEffect> {};

TEST_P(SurrogateEffectErrors, NameTheKeyPathAndLeaveTheModelUnchanged) {
  SurrogateModel model = test_surrogate();
  try {
    model->set_effects(test_info(), effects_config(GetParam().yaml));
    FAIL() << GetParam().yaml;
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key_path(), GetParam().key_path) << error.what();
  }
  EXPECT_EQ(values(*model->amplification()), std::vector<double>{28.5});
  EXPECT_EQ(values(model->clipping_value()), (std::vector<double>{-114, 114}));
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, SurrogateEffectErrors,
    ::testing::Values(
        BadEffect{"voltage_ranges: [[-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1]]",
                  "processor.electrode_effects.voltage_ranges"},
        BadEffect{"amplification: [28.5]\noutput_clipping: [5, -5]",
                  "processor.electrode_effects.output_clipping"},
        BadEffect{"clipping_value: [5, -5]", "processor.electrode_effects.clipping_value"},
        BadEffect{"output_clipping: [1, 2, 3]", "processor.electrode_effects.output_clipping"},
        BadEffect{"amplification: [1, 2]", "processor.electrode_effects.amplification"},
        BadEffect{"amplification: [.inf]", "processor.electrode_effects.amplification[0]"},
        BadEffect{"noise: {type: gausian, std: 1}", "processor.electrode_effects.noise.type"},
        BadEffect{"noise: {type: gaussian, std: -1}", "processor.electrode_effects.noise.std"},
        BadEffect{"noise: {type: gaussian}", "processor.electrode_effects.noise.std"},
        BadEffect{"noise: {std: 1}", "processor.electrode_effects.noise.type"},
        BadEffect{"noise: 0.5", "processor.electrode_effects.noise"},
        BadEffect{"[1, 2]", "processor.electrode_effects"}));

TEST(SurrogateEffects, SettersValidate) {
  SurrogateModel model = test_surrogate();
  EXPECT_THROW(model->set_voltage_ranges(at::zeros({6, 2})), ConfigError);
  EXPECT_THROW(model->set_voltage_ranges(at::zeros({7})), ConfigError);
  EXPECT_THROW(model->set_voltage_ranges(at::tensor({1.0f, -1.0f}).repeat({7, 1})), ConfigError);
  EXPECT_THROW(model->set_output_clipping(std::make_pair(5.0, -5.0)), ConfigError);
  EXPECT_THROW(model->set_amplification(at::ones({3})), ConfigError);
  EXPECT_THROW(model->set_noise_std(-0.1), ConfigError);
  model->set_output_clipping(std::make_pair(-5.0, 5.0));
  EXPECT_EQ(values(model->clipping_value()), (std::vector<double>{-5, 5}));
  model->set_amplification(at::tensor(3.0));  // a single factor
  EXPECT_EQ(values(*model->amplification()), std::vector<double>{3});
}

TEST(SurrogateEffects, UnknownKeysAreWarnedWithASuggestion) {
  StderrCapture capture;
  test_surrogate(effects_config("amplificaton: [3]"));
  EXPECT_THAT(capture.text(), HasSubstr("did you mean 'amplification'"));
}

TEST(SurrogateEffects, VoltageRangesCountMustMatchTheNetwork) {
  ElectrodeInfo info = test_info();
  info.activation_electrode_no = 6;
  info.voltage_ranges = info.voltage_ranges.narrow(0, 0, 6);
  SurrogateModel model(small_structure());
  EXPECT_THROW(model->set_effects(info, std::nullopt), ConfigError);
}

// ---------------------------------------------------------------------------------------
// Noise: the configured value is a standard deviation

TEST(SurrogateNoise, ZeroStdIsTheIdentity) {
  SurrogateModel model = test_surrogate(effects_config("noise: {type: gaussian, std: 0}"));
  at::NoGradGuard no_grad;
  const at::Tensor x = at::rand({100, 7});
  SurrogateModel clean = test_surrogate();
  EXPECT_TRUE(at::equal(model->forward(x), clean->forward(x)));
}

TEST(SurrogateNoise, EmpiricalStdMatches) {
  SurrogateModel model = test_surrogate(
      effects_config("amplification: null\noutput_clipping: null\n"
                     "noise: {type: gaussian, variance: 2.0}"));  // brains-py's spelling
  EXPECT_EQ(model->noise_std(), 2.0);
  at::manual_seed(11);
  at::NoGradGuard no_grad;
  const at::Tensor x = at::rand({200000, 7});
  const at::Tensor clean = model->model->forward(x);
  const at::Tensor noisy = model->forward(x);
  const at::Tensor difference = (noisy - clean).to(at::kDouble);
  EXPECT_FALSE(at::equal(noisy, clean));
  EXPECT_NEAR(difference.std().item<double>(), 2.0, 0.02);
  EXPECT_NEAR(difference.mean().item<double>(), 0.0, 0.02);
}

TEST(SurrogateNoise, NoiseIsAddedBeforeClipping) {
  SurrogateModel model = test_surrogate(
      effects_config("output_clipping: [-1, 1]\nnoise: {type: gaussian, std: 100}"));
  at::NoGradGuard no_grad;
  const at::Tensor y = model->forward(at::rand({1000, 7}));
  EXPECT_LE(y.abs().max().item<double>(), 1.0);
}

// ---------------------------------------------------------------------------------------
// Effects are buffers

TEST(SurrogateBuffers, SettersKeepTheRegisteredTensor) {
  SurrogateModel model = test_surrogate();
  auto buffer = [&](const std::string& name) { return model->named_buffers()[name]; };
  const auto* registered = buffer("amplification").unsafeGetTensorImpl();
  model->set_amplification(at::tensor({2.0f}));
  EXPECT_EQ(buffer("amplification").unsafeGetTensorImpl(), registered);
  EXPECT_EQ(values(buffer("amplification")), std::vector<double>{2});
  model->set_amplification(std::nullopt);
  EXPECT_EQ(buffer("amplification").unsafeGetTensorImpl(), registered);
  EXPECT_EQ(buffer("amplification").numel(), 0);
}

TEST(SurrogateBuffers, StateDictHoldsTheSetEffects) {
  SurrogateModel model = test_surrogate(effects_config("output_clipping: null"));
  const io::PyValue state = state_dict_value(*model);
  EXPECT_TRUE(state.find("voltage_ranges"));
  EXPECT_TRUE(state.find("amplification"));
  EXPECT_FALSE(state.find("output_clipping"));  // brains-py omits a None clipping too
  EXPECT_TRUE(state.find("model.raw_model.0.weight"));
  EXPECT_EQ(state.dict_items().front().first.as_string(), "voltage_ranges");
}

TEST(SurrogateBuffers, FullStateDictRoundTrip) {
  SurrogateModel model = test_surrogate(effects_config("output_clipping: [-20, 30]"));
  const io::PyValue state = state_dict_value(*model);
  SurrogateModel copy(small_structure());  // fresh weights, no effects yet
  load_state_dict(*copy, state, "round trip");
  EXPECT_EQ(values(*copy->amplification()), std::vector<double>{28.5});
  EXPECT_EQ(values(copy->clipping_value()), (std::vector<double>{-20, 30}));
  EXPECT_TRUE(at::equal(copy->voltage_ranges(), model->voltage_ranges()));
  at::NoGradGuard no_grad;
  const at::Tensor x = at::rand({64, 7});
  EXPECT_TRUE(at::equal(copy->forward(x), model->forward(x)));
}

TEST(SurrogateBuffers, CloneAndToCarryTheEffects) {
  SurrogateModel model = test_surrogate(effects_config("noise: {type: gaussian, std: 0.25}"));
  auto copy = std::dynamic_pointer_cast<SurrogateModelImpl>(model->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(values(*copy->amplification()), std::vector<double>{28.5});
  EXPECT_EQ(values(copy->clipping_value()), (std::vector<double>{-114, 114}));
  EXPECT_EQ(copy->noise_std(), 0.25);
  copy->set_amplification(at::tensor({1.0f}));  // independent of the original
  EXPECT_EQ(values(*model->amplification()), std::vector<double>{28.5});

  model->to(at::kDouble);
  EXPECT_EQ(model->amplification()->scalar_type(), at::kDouble);
  EXPECT_EQ(model->voltage_ranges().scalar_type(), at::kDouble);
}

TEST(SurrogateModel, PrettyPrint) {
  SurrogateModel model = test_surrogate(effects_config("noise: {type: gaussian, std: 0.5}"));
  std::ostringstream text;
  model->pretty_print(text);
  EXPECT_EQ(text.str(),
            "brains::SurrogateModel(D_in=7, hidden_sizes=[20,20], D_out=1, activation=relu, "
            "amplification=[28.5], output_clipping=[-114, 114], noise_std=0.5)");
}

}  // namespace
}  // namespace brains::processors
