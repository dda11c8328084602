// State dicts in brains-py's naming: strict loading (missing, unexpected and wrongly shaped
// keys are named), the DataParallel prefix, unset buffers, and round trips through .pt files.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "brains/core/error.h"
#include "brains/io/torch_file.h"
#include "brains/processors/neural_network_model.h"
#include "brains/processors/state_dict.h"
#include "brains/processors/surrogate_model.h"
#include "support/temp_dir.h"

namespace brains::processors {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;
using testing::TempDir;

const std::filesystem::path kRandomStateDict =
    reference_dir() / "upstream-files" / "brainspy" / "random_state_dict.pt";

ModelStructure hidden_90x3() {
  ModelStructure structure;
  structure.hidden_sizes = {90, 90, 90};
  return structure;
}

// The dict with `key` removed, renamed or replaced.
io::PyValue edited(const io::PyValue& state, const std::string& key,
                   std::optional<std::string> new_key, std::optional<at::Tensor> new_value = {}) {
  io::PyValue::DictItems items;
  for (const auto& [name, value] : state.dict_items()) {
    if (name.as_string() != key) {
      items.emplace_back(name, value);
    } else if (new_key) {
      items.emplace_back(io::PyValue::string(*new_key),
                         new_value ? io::PyValue::tensor(*new_value) : value);
    }
  }
  return io::PyValue::dict(std::move(items), true);
}

std::string load_error(torch::nn::Module& module, const io::PyValue& state) {
  try {
    load_state_dict(module, state, "random_state_dict.pt");
  } catch (const FormatError& error) {
    EXPECT_EQ(error.file(), "random_state_dict.pt");
    return error.what();
  }
  ADD_FAILURE() << "no FormatError";
  return "";
}

TEST(StateDict, BrainsPyRandomStateDictLoadsUnchanged) {
  const io::PyValue state = io::load_torch_file(kRandomStateDict);
  NeuralNetworkModel model(hidden_90x3());
  load_state_dict(*model, state, kRandomStateDict.string());
  const auto parameters = model->named_parameters();
  ASSERT_EQ(parameters.size(), state.dict_items().size());
  for (const auto& [key, value] : state.dict_items())
    EXPECT_TRUE(at::equal(parameters[key.as_string()], value.tensor())) << key.as_string();
}

TEST(StateDict, DataParallelPrefixIsAccepted) {
  const io::PyValue state = io::load_torch_file(kRandomStateDict);
  io::PyValue::DictItems prefixed;
  for (const auto& [key, value] : state.dict_items())
    prefixed.emplace_back(io::PyValue::string("module." + key.as_string()), value);
  NeuralNetworkModel model(hidden_90x3());
  load_state_dict(*model, io::PyValue::dict(prefixed, true), "data_parallel.pt");
  EXPECT_TRUE(at::equal(model->named_parameters()["raw_model.6.bias"],
                        state.at("raw_model.6.bias").tensor()));
}

TEST(StateDict, RawModelDictLoadsIntoASurrogate) {
  const io::PyValue state = io::load_torch_file(kRandomStateDict);
  SurrogateModel surrogate(hidden_90x3());
  load_state_dict(*surrogate, state, "random_state_dict.pt");
  EXPECT_TRUE(at::equal(surrogate->named_parameters()["model.raw_model.0.weight"],
                        state.at("raw_model.0.weight").tensor()));
}

TEST(StateDict, MissingKeyIsNamed) {
  const io::PyValue state = io::load_torch_file(kRandomStateDict);
  NeuralNetworkModel model(hidden_90x3());
  const std::string message = load_error(*model, edited(state, "raw_model.4.bias", std::nullopt));
  EXPECT_THAT(message, HasSubstr("missing key 'raw_model.4.bias'"));
  EXPECT_THAT(message, HasSubstr("cannot load state dict"));
}

TEST(StateDict, ExtraKeyIsNamed) {
  io::PyValue state = io::load_torch_file(kRandomStateDict);
  state.set("raw_model.8.weight", io::PyValue::tensor(at::zeros({1, 90})));
  NeuralNetworkModel model(hidden_90x3());
  EXPECT_THAT(load_error(*model, state), HasSubstr("unexpected key 'raw_model.8.weight'"));
}

TEST(StateDict, WrongShapeIsNamed) {
  const io::PyValue state = io::load_torch_file(kRandomStateDict);
  NeuralNetworkModel model(hidden_90x3());
  const std::string message = load_error(
      *model, edited(state, "raw_model.2.weight", "raw_model.2.weight", at::zeros({90, 45})));
  EXPECT_THAT(message, HasSubstr("key 'raw_model.2.weight'"));
  EXPECT_THAT(message, HasSubstr("expected shape [90, 90], got [90, 45]"));
}

TEST(StateDict, WrongStructureIsNamed) {
  // The default 6×90 network does not fit the 3×90 dict.
  NeuralNetworkModel model{ModelStructure{}};
  const std::string message = load_error(*model, io::load_torch_file(kRandomStateDict));
  EXPECT_THAT(message, HasSubstr("raw_model.6.weight"));
}

TEST(StateDict, NonTensorValuesAndNonDictsAreRejected) {
  const io::PyValue state = io::load_torch_file(kRandomStateDict);
  io::PyValue bad = state;
  bad.set("raw_model.0.bias", io::PyValue::integer(3));
  NeuralNetworkModel model(hidden_90x3());
  EXPECT_THAT(load_error(*model, bad), HasSubstr("key 'raw_model.0.bias': expected a tensor"));
  EXPECT_THAT(load_error(*model, io::PyValue::list()), HasSubstr("expected a dict"));
}

TEST(StateDict, AFailedLoadLeavesTheModuleUnchanged) {
  NeuralNetworkModel model(hidden_90x3());
  const at::Tensor before = model->named_parameters()["raw_model.0.weight"].clone();
  io::PyValue state = io::load_torch_file(kRandomStateDict);
  state.set("extra", io::PyValue::tensor(at::zeros({1})));
  EXPECT_THROW(load_state_dict(*model, state, "x.pt"), FormatError);
  EXPECT_TRUE(at::equal(model->named_parameters()["raw_model.0.weight"], before));
}

TEST(StateDict, ValueListsParametersInOrderAsDetachedCopies) {
  NeuralNetworkModel model(hidden_90x3());
  const io::PyValue state = state_dict_value(*model);
  EXPECT_TRUE(state.ordered());
  std::vector<std::string> keys;
  for (const auto& [key, value] : state.dict_items()) keys.push_back(key.as_string());
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "raw_model.0.weight", "raw_model.0.bias", "raw_model.2.weight",
                      "raw_model.2.bias", "raw_model.4.weight", "raw_model.4.bias",
                      "raw_model.6.weight", "raw_model.6.bias"}));
  const at::Tensor& weight = state.at("raw_model.0.weight").tensor();
  EXPECT_FALSE(weight.requires_grad());
  weight.zero_();  // a copy: the model is untouched
  EXPECT_GT(model->named_parameters()["raw_model.0.weight"].abs().sum().item<double>(), 0.0);
}

TEST(StateDict, RoundTripThroughATorchFile) {
  TempDir dir;
  NeuralNetworkModel model(hidden_90x3());
  io::save_torch_file(dir / "state.pt", state_dict_value(*model));
  NeuralNetworkModel copy(hidden_90x3());
  load_state_dict(*copy, io::load_torch_file(dir / "state.pt"), (dir / "state.pt").string());
  at::NoGradGuard no_grad;
  const at::Tensor x = at::rand({16, 7});
  EXPECT_TRUE(at::equal(copy->forward(x), model->forward(x)));
}

}  // namespace
}  // namespace brains::processors
