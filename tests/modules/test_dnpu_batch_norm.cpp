// DNPUBatchNorm: parity with brains-py, batch and running statistics, logged outputs.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/modules/dnpu_batch_norm.h"
#include "brains/processors/surrogate_file.h"
#include "support/temp_dir.h"

namespace brains::modules {
namespace {

using ::testing::HasSubstr;
using processors::Processor;
using processors::SurrogateFile;
using testing::reference_dir;

Processor load_processor(const std::string& seed) {
  const auto file = SurrogateFile::load(reference_dir() / "parity" / seed / "surrogate.pt");
  return Processor(Config::parse("processor_type: simulation\nwaveform:\n  plateau_length: 1\n  slope_length: 0\n"),
                   file.info, file.model_state_dict);
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double scale = 1e-5) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor tolerance = scale * at::clamp_min(expected.abs(), 1.0);
  EXPECT_LE(((actual - expected).abs() - tolerance).max().item<double>(), 0.0)
      << "max |Δ| = " << (actual - expected).abs().max().item<double>();
}

// The parameters of a parity case, from cases.json.
Config parity_case(const std::string& seed, const std::string& name) {
  const Config cases = Config::load(reference_dir() / "parity" / seed / "cases.json");
  for (std::size_t i = 0; i < cases.node().size(); ++i)
    if (cases.node()[i]["case"].as<std::string>() == name) return Config(cases.node()[i], name);
  throw std::runtime_error("no parity case " + name);
}

class DNPUBatchNormParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DNPUBatchNormParity, TrainingForwardMatchesBrainsPy) {
  const std::string seed = GetParam();
  const auto data = io::read_npz(reference_dir() / "parity" / seed / "dnpu_batchnorm_forward.npz");
  const Config parameters = parity_case(seed, "dnpu_batchnorm_forward");
  ASSERT_EQ(parameters.get<std::vector<double>>("input_transform"), (std::vector<double>{0, 1}));
  ASSERT_EQ(parameters.get<std::string>("mode"), "train");
  DNPUBatchNorm layer(load_processor(seed),
                      DNPUBatchNormOptions(parameters.get<IndexLists>("data_input_indices"))
                          .affine(parameters.get<bool>("affine")));
  layer->add_input_transform({0.0, 1.0});
  layer->set_control_voltages(data.tensor("control_voltages"));
  layer->train();
  at::NoGradGuard no_grad;
  const at::Tensor outputs = layer->forward(data.tensor("inputs"));
  const auto logged = layer->logged_outputs();
  expect_close(logged.at("c_dnpu_output"), data.tensor("dnpu_output"));
  // Normalising divides by the batch std, so the float32 tolerance of the DNPU outputs
  // (whose last bits depend on the BLAS kernel) grows by 1/std after the batch norm.
  const double std_min = data.tensor("dnpu_output").to(at::kDouble).std(0).min().item<double>();
  const double scale = 1e-5 * std::max(1.0, 1.0 / std_min);
  expect_close(outputs, data.tensor("outputs"), scale);
  expect_close(logged.at("d_batch_norm_output"), data.tensor("outputs"), scale);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DNPUBatchNormParity, ::testing::Values("seed1", "seed2", "seed3"));

TEST(DNPUBatchNorm, TrainingUsesBatchStatisticsAndUpdatesRunningOnes) {
  DNPUBatchNorm layer(load_processor("seed2"), DNPUBatchNormOptions(DNPUOptions({{0, 1}, {2, 3}, {5, 6}}).seed(3)));
  layer->add_input_transform({0.0, 1.0});
  const at::Tensor inputs = at::rand({50, 6});
  at::NoGradGuard no_grad;
  const at::Tensor y = layer->forward(inputs);
  const at::Tensor raw = layer->logged_outputs().at("c_dnpu_output");
  const at::Tensor mean = raw.mean(0);
  const at::Tensor biased = raw.var(0, /*unbiased=*/false);
  expect_close(y, (raw - mean) / at::sqrt(biased + 1e-5));
  auto bn = layer->batch_norm();
  expect_close(bn->running_mean, 0.1 * mean);
  expect_close(bn->running_var, 0.9 + 0.1 * raw.var(0, /*unbiased=*/true));
  EXPECT_EQ(bn->num_batches_tracked.item<std::int64_t>(), 1);
  EXPECT_TRUE(bn->parameters().empty());  // affine off, as brains-py's default
}

TEST(DNPUBatchNorm, EvalModeUsesRunningStatistics) {
  DNPUBatchNorm layer(load_processor("seed1"), DNPUBatchNormOptions(DNPUOptions({{3, 4}, {1, 6}}).seed(8)).momentum(0.5));
  layer->add_input_transform({0.0, 1.0});
  at::NoGradGuard no_grad;
  layer->forward(at::rand({40, 4}));
  layer->forward(at::rand({40, 4}));
  auto bn = layer->batch_norm();
  const at::Tensor running_mean = bn->running_mean.clone();
  const at::Tensor running_var = bn->running_var.clone();
  EXPECT_EQ(bn->num_batches_tracked.item<std::int64_t>(), 2);

  layer->eval();
  const at::Tensor inputs = at::rand({7, 4});
  const at::Tensor y = layer->forward(inputs);
  const at::Tensor raw = layer->logged_outputs().at("c_dnpu_output");
  expect_close(y, (raw - running_mean) / at::sqrt(running_var + 1e-5));
  EXPECT_TRUE(at::equal(bn->running_mean, running_mean));  // eval leaves them alone
  EXPECT_EQ(bn->num_batches_tracked.item<std::int64_t>(), 2);
  // A single sample works in eval mode.
  EXPECT_EQ(layer->forward(inputs.narrow(0, 0, 1)).sizes(), (std::vector<std::int64_t>{1, 2}));
}

TEST(DNPUBatchNorm, LoggedOutputsAreDetachedClones) {
  DNPUBatchNorm layer(load_processor("seed3"), DNPUBatchNormOptions({{3, 4}, {1, 6}}));
  EXPECT_TRUE(layer->logged_outputs().empty());
  layer->add_input_transform({0.0, 1.0});
  const at::Tensor y = layer->forward(at::rand({16, 4}));
  ASSERT_TRUE(y.requires_grad());
  const auto logged = layer->logged_outputs();
  ASSERT_EQ(logged.size(), 2u);
  const at::Tensor& after = logged.at("d_batch_norm_output");
  EXPECT_FALSE(after.requires_grad());
  EXPECT_FALSE(logged.at("c_dnpu_output").requires_grad());
  EXPECT_TRUE(at::equal(after, y.detach()));
  EXPECT_NE(after.data_ptr(), y.data_ptr());
  // The control voltages still learn through the normalisation.
  (y * at::arange(16, at::kFloat).unsqueeze(1)).sum().backward();
  const at::Tensor grad = layer->control_voltages_parameter().grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
}

TEST(DNPUBatchNorm, AffineAndStateDictKeys) {
  DNPUBatchNorm layer(load_processor("seed1"), DNPUBatchNormOptions({{3, 4}}).affine(true));
  std::vector<std::string> keys;
  for (const auto& item : layer->named_parameters())
    if (item.value().requires_grad()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"control_voltages", "bn.weight", "bn.bias"}));
  const auto buffers = layer->named_buffers();
  EXPECT_TRUE(buffers.contains("bn.running_mean"));
  EXPECT_TRUE(buffers.contains("bn.running_var"));
  EXPECT_TRUE(buffers.contains("bn.num_batches_tracked"));
}

TEST(DNPUBatchNorm, RejectsBadOptions) {
  try {
    DNPUBatchNorm(load_processor("seed1"), DNPUBatchNormOptions({{3, 4}}).momentum(1.5));
    ADD_FAILURE() << "accepted";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("momentum must be within [0, 1], got 1.5"));
  }
  EXPECT_THROW(DNPUBatchNorm(load_processor("seed1"), DNPUBatchNormOptions({{3, 4}}).eps(0)), ArgumentError);
  EXPECT_THROW(DNPUBatchNorm(load_processor("seed1"), DNPUBatchNormOptions({{3, 3}})), ArgumentError);
}

TEST(DNPUBatchNorm, PrettyPrint) {
  DNPUBatchNorm layer(load_processor("seed1"), DNPUBatchNormOptions({{3, 4}, {1, 6}}));
  layer->add_input_transform({0.0, 1.0});
  std::ostringstream text;
  layer->pretty_print(text);
  EXPECT_EQ(text.str(),
            "brains::DNPUBatchNorm(nodes=2, inputs=[[3,4],[1,6]], forward=vec, transform=[0,1], strict, "
            "affine=false, track_running_stats=true, momentum=0.1, eps=1e-05)");
}

}  // namespace
}  // namespace brains::modules
