// DNPU layers: parity with brains-py, the fixed upstream defects, state and swaps.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include <sstream>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/io/torch_file.h"
#include "brains/modules/dnpu.h"
#include "brains/modules/dnpu_state.h"
#include "brains/processors/state_dict.h"
#include "brains/processors/surrogate_file.h"
#include "support/temp_dir.h"

namespace brains::modules {
namespace {

using ::testing::HasSubstr;
using processors::Processor;
using processors::SurrogateFile;
using testing::reference_dir;

Config processor_config(const std::string& type = "simulation", int plateau = 1, int slope = 0) {
  return Config::parse("processor_type: " + type + "\nwaveform:\n  plateau_length: " +
                       std::to_string(plateau) + "\n  slope_length: " + std::to_string(slope) + "\n");
}

Processor load_processor(const std::string& seed, const Config& configs = processor_config()) {
  const auto file = SurrogateFile::load(reference_dir() / "parity" / seed / "surrogate.pt");
  return Processor(configs, file.info, file.model_state_dict);
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double scale = 1e-5) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor tolerance = scale * at::clamp_min(expected.abs(), 1.0);
  EXPECT_LE(((actual - expected).abs() - tolerance).max().item<double>(), 0.0)
      << "max |Δ| = " << (actual - expected).abs().max().item<double>();
}

class DNPUParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

// The parameters of a parity case, from cases.json.
Config parity_case(const std::string& seed, const std::string& name) {
  const Config cases = Config::load(reference_dir() / "parity" / seed / "cases.json");
  for (std::size_t i = 0; i < cases.node().size(); ++i)
    if (cases.node()[i]["case"].as<std::string>() == name) return Config(cases.node()[i], name);
  throw std::runtime_error("no parity case " + name);
}

TEST_P(DNPUParity, ForwardAndRegularizerMatchBrainsPy) {
  const auto& [seed, pass] = GetParam();
  const auto data = io::read_npz(reference_dir() / "parity" / seed / "dnpu_forward.npz");
  const Config parameters = parity_case(seed, "dnpu_forward");
  ASSERT_EQ(parameters.get<std::vector<double>>("input_transform"), (std::vector<double>{0, 1}));
  DNPU dnpu(load_processor(seed),
            DNPUOptions(parameters.get<std::vector<std::vector<std::int64_t>>>("data_input_indices"))
                .forward_pass(pass));
  dnpu->add_input_transform({0.0, 1.0}, /*strict=*/true);
  dnpu->set_control_voltages(data.tensor("control_voltages"));
  at::NoGradGuard no_grad;
  expect_close(dnpu->forward(data.tensor("inputs")), data.tensor("outputs"));
  expect_close(dnpu->regularizer(), data.tensor("regularizer"));
}

INSTANTIATE_TEST_SUITE_P(SeedsAndPasses, DNPUParity,
                         ::testing::Combine(::testing::Values("seed1", "seed2", "seed3"),
                                            ::testing::Values("vec", "for")));

TEST(DNPU, ElectrodeBookkeeping) {
  DNPU dnpu(load_processor("seed1"), DNPUOptions({{1, 2}, {1, 3}, {3, 4}}).seed(5));
  EXPECT_EQ(dnpu->node_count(), 3);
  EXPECT_EQ(dnpu->data_input_electrode_count(), 2);
  EXPECT_EQ(dnpu->control_electrode_count(), 5);
  const at::Tensor expected = at::tensor({0, 3, 4, 5, 6, 0, 2, 4, 5, 6, 0, 1, 2, 5, 6}, at::kLong).view({3, 5});
  EXPECT_TRUE(at::equal(dnpu->control_indices(), expected));
  // The only trainable parameters are the control voltages; the surrogate is frozen.
  std::vector<std::string> trainable;
  for (const auto& item : dnpu->named_parameters())
    if (item.value().requires_grad()) trainable.push_back(item.key());
  EXPECT_EQ(trainable, std::vector<std::string>{"control_voltages"});
}

TEST(DNPU, InitialControlVoltagesAreSeededAndInRange) {
  DNPU a(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}).seed(11));
  DNPU b(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}).seed(11));
  DNPU c(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}).seed(12));
  EXPECT_TRUE(at::equal(a->control_voltages(), b->control_voltages()));
  EXPECT_FALSE(at::equal(a->control_voltages(), c->control_voltages()));
  EXPECT_EQ(a->regularizer().item<float>(), 0.0f);
  const at::Tensor ranges = a->control_ranges();
  EXPECT_TRUE((a->control_voltages() >= ranges.select(-1, 0)).all().item<bool>());
  EXPECT_TRUE((a->control_voltages() <= ranges.select(-1, 1)).all().item<bool>());
}

TEST(DNPU, RegularizerAndClipConstraint) {
  DNPU dnpu(load_processor("seed1"), DNPUOptions({{3, 4}}));
  const at::Tensor ranges = dnpu->control_ranges();
  at::Tensor voltages = ranges.select(-1, 0).clone();
  voltages[0][0] -= 0.25;  // below its range by 0.25 V
  voltages[0][1] = ranges[0][1][1] + 0.5;  // above by 0.5 V
  dnpu->set_control_voltages(voltages);
  EXPECT_NEAR(dnpu->regularizer().item<double>(), 0.75, 1e-6);
  dnpu->constraint_control_voltages();
  EXPECT_NEAR(dnpu->regularizer().item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(dnpu->control_voltages()[0][1].item<double>(), ranges[0][1][1].item<double>(), 1e-7);
}

TEST(DNPU, SetControlVoltagesKeepsTheParameterForALiveOptimizer) {
  DNPU dnpu(load_processor("seed2"), DNPUOptions({{3, 4}}).seed(3));
  torch::optim::Adam optimizer(dnpu->parameters(), torch::optim::AdamOptions(0.01));
  const at::Tensor before = dnpu->control_voltages_parameter();
  dnpu->set_control_voltages(at::zeros({1, 5}));
  EXPECT_TRUE(dnpu->control_voltages_parameter().is_same(before));
  optimizer.zero_grad();
  dnpu->forward(at::rand({16, 2}) * 0.5 - 0.25).sum().backward();
  optimizer.step();
  EXPECT_FALSE(at::equal(dnpu->control_voltages(), at::zeros({1, 5})));  // the step moved them
  EXPECT_THROW(dnpu->set_control_voltages(at::zeros({2, 5})), ArgumentError);
  EXPECT_THROW(dnpu->set_control_voltages(at::zeros({1, 5}, at::kDouble)), ArgumentError);
}

TEST(DNPU, ForAndVecAgreeWithStrictClippingOutsideTheRange) {
  // Upstream's for-path clipped every column with electrode 0's range (§15.2).
  DNPU vec(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}).forward_pass("vec").seed(2));
  DNPU loop(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}).forward_pass("for").seed(2));
  vec->add_input_transform({-1.0, 1.0});
  loop->add_input_transform({-1.0, 1.0});
  const at::Tensor inputs = at::rand({32, 4}) * 4 - 2;  // half of it outside [-1, 1]
  at::NoGradGuard no_grad;
  expect_close(loop->forward(inputs), vec->forward(inputs));
  expect_close(vec->forward(inputs), vec->forward(at::clamp(inputs, -1, 1)));
}

TEST(DNPU, PerElectrodeTransformWithEqualOffsetsAndDifferentScales) {
  // Upstream kept only sorted unique scales when offsets matched (§15.3).
  DNPU dnpu(load_processor("seed1"), DNPUOptions({{3, 4}}));
  at::Tensor range = at::empty({1, 2, 2});
  range[0][0][0] = 0.0; range[0][0][1] = 1.0;
  range[0][1][0] = 0.0; range[0][1][1] = 2.0;
  dnpu->add_input_transform(range, false);
  const at::Tensor v = dnpu->data_input_ranges();
  const at::Tensor transformed = dnpu->transform_inputs(at::ones({1, 1, 2}));
  EXPECT_NEAR(transformed[0][0][0].item<double>(), v[0][0][1].item<double>(), 1e-6);  // 1 of [0,1] -> max
  EXPECT_NEAR(transformed[0][0][1].item<double>(),
              (v[0][1][0] + (v[0][1][1] - v[0][1][0]) * 0.5).item<double>(), 1e-6);  // 1 of [0,2] -> middle
}

TEST(DNPU, IndexValidation) {
  const auto build = [](IndexLists indices) { DNPU(load_processor("seed1"), DNPUOptions(std::move(indices))); };
  const auto message = [&](IndexLists indices) {
    try {
      build(std::move(indices));
    } catch (const ArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("<accepted>");
  };
  EXPECT_THAT(message({{-1, 2}}), HasSubstr("electrode -1, outside 0..6"));
  EXPECT_THAT(message({{3, 7}}), HasSubstr("electrode 7, outside 0..6"));
  EXPECT_THAT(message({{3, 3}}), HasSubstr("lists electrode 3 twice"));
  EXPECT_THAT(message({{0, 1, 2, 3, 4, 5, 6}}), HasSubstr("no control electrode"));
  EXPECT_THAT(message({{1, 2}, {3}}), HasSubstr("data_input_indices[1] has 1 electrodes"));
  EXPECT_THAT(message({}), HasSubstr("empty"));
  EXPECT_THAT(message({{}}), HasSubstr("empty"));
}

TEST(DNPU, InputWidthMustMatchNodesTimesInputs) {
  DNPU dnpu(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}));
  try {
    dnpu->forward(at::zeros({8, 3}));
    ADD_FAILURE() << "accepted";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("(batch, 4) for 2 nodes × 2 inputs, got 8×3"));
  }
}

TEST(DNPU, MultiNodeHardwarePathMatchesSimulationInOrder) {
  // Upstream returned (B·nodes, 1) or interleaved plateau samples for nodes > 1 (§15.1).
  for (const bool average : {true, false}) {
    const auto file = SurrogateFile::load(reference_dir() / "parity/seed3/surrogate.pt");
    Processor simulation(processor_config("simulation", 3, 0), file.info, file.model_state_dict, average);
    Processor debug(processor_config("simulation_debug", 3, 2), file.info, file.model_state_dict, average);
    DNPU soft(simulation, DNPUOptions({{3, 4}, {1, 6}, {0, 2}}).seed(4));
    DNPU hard(debug, DNPUOptions({{3, 4}, {1, 6}, {0, 2}}).seed(4));
    soft->add_input_transform({0.0, 1.0});
    hard->add_input_transform({0.0, 1.0});
    const at::Tensor inputs = at::rand({10, 6});
    at::NoGradGuard no_grad;
    const at::Tensor expected = soft->forward(inputs);
    EXPECT_EQ(expected.sizes(), (std::vector<std::int64_t>{average ? 10 : 30, 3}));
    expect_close(hard->forward(inputs), expected);
  }
}

TEST(DNPU, SwapToAnotherBackendAndBackKeepsControlVoltages) {
  const auto file = SurrogateFile::load(reference_dir() / "parity/seed1/surrogate.pt");
  DNPU dnpu(Processor(processor_config(), file.info, file.model_state_dict), DNPUOptions({{3, 4}}).seed(9));
  const at::Tensor voltages = dnpu->control_voltages();
  const at::Tensor inputs = at::rand({6, 2}) * 0.2;
  at::Tensor before;
  {
    at::NoGradGuard no_grad;
    before = dnpu->forward(inputs);
  }
  dnpu->hw_eval(processor_config("simulation_debug", 2, 1));
  EXPECT_FALSE(dnpu->is_training());
  EXPECT_TRUE(at::equal(dnpu->control_voltages(), voltages));
  {
    at::NoGradGuard no_grad;
    expect_close(dnpu->forward(inputs), before);
  }
  dnpu->sw_train(processor_config(), file.info, file.model_state_dict);
  EXPECT_TRUE(dnpu->is_training());
  EXPECT_TRUE(at::equal(dnpu->control_voltages(), voltages));
  for (const auto& item : dnpu->named_parameters())
    EXPECT_EQ(item.value().requires_grad(), item.key() == "control_voltages") << item.key();
}

TEST(DNPU, StateRoundTripIncludesTheInputTransform) {
  // Upstream did not save the transform flags, so a state dict did not round-trip (§15.9).
  testing::TempDir dir;
  DNPU original(load_processor("seed2"), DNPUOptions({{3, 4}, {1, 6}}).seed(21));
  original->add_input_transform({-1.0, 1.0}, /*strict=*/false);
  io::save_torch_file(dir / "dnpu.pt", processors::state_dict_value(*original));

  DNPU copy(load_processor("seed2"), DNPUOptions({{3, 4}, {1, 6}}).seed(22));
  load_dnpu_state(*copy, io::load_torch_file(dir / "dnpu.pt"), "", "dnpu.pt");
  EXPECT_TRUE(at::equal(copy->control_voltages(), original->control_voltages()));
  EXPECT_TRUE(copy->has_input_transform());
  EXPECT_FALSE(copy->input_clipping());
  const at::Tensor inputs = at::rand({12, 4}) * 3 - 1.5;
  at::NoGradGuard no_grad;
  expect_close(copy->forward(inputs), original->forward(inputs));
}

TEST(DNPU, LoadsABrainsPyModelStateDict) {
  const io::PyValue result = io::load_torch_file(reference_dir() / "upstream-files/brainspy/training_data.pickle");
  const io::PyValue& state = result.at("model_state_dict");
  // The surrogate that model was trained on: hidden [90, 90, 90], ranges and amplification as stored.
  const YAML::Node info = YAML::Load(
      "model_structure: {D_in: 7, D_out: 1, hidden_sizes: [90, 90, 90], activation: relu}\n"
      "electrode_info:\n  electrode_no: 8\n  activation_electrodes:\n    electrode_no: 7\n"
      "    voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]\n"
      "  output_electrodes: {electrode_no: 1, amplification: [100], clipping_value: null}\n");
  DNPU dnpu(Processor(processor_config(), info), DNPUOptions({{3, 4}}));
  load_dnpu_state(*dnpu, state, "dnpu.", "training_data.pickle");
  EXPECT_NEAR(dnpu->control_voltages()[0][2].item<double>(), -0.81143713, 1e-7);
  EXPECT_TRUE(dnpu->has_input_transform());
  // Input [-1, 1] onto [-1.2, 0.6]: scale 0.9, offset -0.3 (as stored).
  const at::Tensor transformed = dnpu->transform_inputs(at::ones({1, 1, 2}));
  EXPECT_NEAR(transformed[0][0][0].item<double>(), 0.6, 1e-6);
  const at::Tensor weight = dnpu->processor()->named_parameters()["processor.model.raw_model.0.weight"];
  EXPECT_TRUE(at::equal(weight, state.at("dnpu.processor.processor.model.raw_model.0.weight").tensor()));

  DNPU wrong(Processor(processor_config(), info), DNPUOptions({{2, 4}}));
  EXPECT_THROW(load_dnpu_state(*wrong, state, "dnpu.", "training_data.pickle"), FormatError);
  EXPECT_THROW(load_dnpu_state(*dnpu, state, "nothing.", "training_data.pickle"), FormatError);
}

TEST(DNPU, PopulationForwardEqualsOneGenomeAtATime) {
  DNPU dnpu(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}).seed(8));
  dnpu->add_input_transform({0.0, 1.0});
  const at::Tensor ranges = dnpu->control_ranges();
  const at::Tensor genomes =
      ranges.select(-1, 0) + (ranges.select(-1, 1) - ranges.select(-1, 0)) * at::rand({5, 2, 5});
  const at::Tensor inputs = at::rand({9, 4});
  at::NoGradGuard no_grad;
  const at::Tensor all = dnpu->forward_population(inputs, genomes);
  ASSERT_EQ(all.sizes(), (std::vector<std::int64_t>{5, 9, 2}));
  const at::Tensor kept = dnpu->control_voltages();
  for (std::int64_t g = 0; g < 5; ++g) {
    DNPU single(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}));
    single->add_input_transform({0.0, 1.0});
    single->set_control_voltages(genomes[g].contiguous());
    expect_close(all[g], single->forward(inputs));
  }
  EXPECT_TRUE(at::equal(dnpu->control_voltages(), kept));
  EXPECT_THROW(dnpu->forward_population(inputs, at::zeros({5, 2, 4})), ArgumentError);
}

TEST(DNPU, PrettyPrint) {
  DNPU dnpu(load_processor("seed1"), DNPUOptions({{3, 4}, {1, 6}}));
  std::ostringstream plain;
  dnpu->pretty_print(plain);
  EXPECT_EQ(plain.str(), "brains::DNPU(nodes=2, inputs=[[3,4],[1,6]], forward=vec)");
  dnpu->add_input_transform({0.0, 1.0});
  std::ostringstream transformed;
  dnpu->pretty_print(transformed);
  EXPECT_EQ(transformed.str(), "brains::DNPU(nodes=2, inputs=[[3,4],[1,6]], forward=vec, transform=[0,1], strict)");
}

}  // namespace
}  // namespace brains::modules
