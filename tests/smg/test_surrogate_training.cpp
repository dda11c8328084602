#include "brains/smg/surrogate_training.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/io/torch_file.h"
#include "brains/processors/processor.h"
#include "brains/processors/surrogate_file.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;
using testing::TempDir;

namespace fs = std::filesystem;

constexpr double kAmplification = 10.0;

// A smooth "device": 10 nA · Σ_k c_k tanh(a_k · v + b_k) over 7 electrodes in [-1, 1] V.
at::Tensor device_current(const at::Tensor& v) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(4);
  const at::Tensor a = at::randn({6, 7}, generator, at::kDouble);
  const at::Tensor b = at::randn({6}, generator, at::kDouble) * 0.5;
  const at::Tensor c = at::randn({6}, generator, at::kDouble) * 0.5;
  return (at::tanh(v.matmul(a.t()) + b).matmul(c) * kAmplification).unsqueeze(1);
}

io::PyValue sampling_configs() {
  return io::from_yaml(YAML::Load(R"(
data_name: synthetic
driver:
  amplification: [10.0]
  instruments_setup: {activation_sampling_frequency: 1000}
input_data: {batch_time: 0.1, activation_electrode_no: 7, readout_electrode_no: 1}
electrode_info:
  electrode_no: 8
  activation_electrodes:
    electrode_no: 7
    voltage_ranges: [[-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1], [-1, 1]]
  output_electrodes: {electrode_no: 1, amplification: [10.0], clipping_value: null}
)"));
}

// A postprocessed npz of n samples of the synthetic device.
fs::path synthetic_npz(const TempDir& dir, std::int64_t n, std::uint64_t seed, const std::string& name = "data.npz") {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor v = at::rand({n, 7}, generator, at::kDouble) * 2 - 1;
  const fs::path file = dir / name;
  io::write_npz(file, {{"inputs", io::PyValue::array(v)},
                       {"outputs", io::PyValue::array(device_current(v))},
                       {"sampling_configs", sampling_configs()}});
  return file;
}

Config training_config(const TempDir& dir, const std::string& data_yaml, const std::string& extra = "") {
  return Config::parse("results_base_dir: " + (dir / "runs").string() + R"(
seed: 3
plots: false
model_structure: {D_in: 7, D_out: 1, hidden_sizes: [32, 32], activation: relu}
hyperparameters: {epochs: 30, learning_rate: 0.005}
data:
)" + data_yaml + extra);
}

std::string config_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

TEST(SurrogateTraining, LearnsTheDeviceAndWritesALoadableModel) {
  TempDir dir;
  const fs::path data = synthetic_npz(dir, 8000, 1);
  TrainingOptions options = TrainingOptions::from_config(training_config(
      dir, "  dataset_paths: [" + data.string() + "]\n  batch_size: 128\n  split_percentages: [0.8, 0.1, 0.1]\n"));
  options.plots = true;
  const TrainingResult result = train_surrogate(options);
  EXPECT_TRUE(result.fused);
  EXPECT_EQ(result.seed, 3u);
  EXPECT_EQ(result.epochs_run, 30);
  ASSERT_EQ(result.metrics.size(), 3u);
  const SplitMetrics& test = result.metrics[2];
  EXPECT_EQ(test.label, "TEST");
  EXPECT_EQ(test.samples, 800);
  // A mean predictor has R² 0; the network learns the smooth function well.
  EXPECT_GT(test.r2, 0.98);
  EXPECT_LT(test.rmse_percent_of_range, 3.0);
  EXPECT_NEAR(test.rmse_percent_of_range, 100 * test.rmse_na / test.output_range_na, 1e-9);
  EXPECT_LE(test.mae_na, test.rmse_na);
  EXPECT_GE(test.max_error_na, test.rmse_na);
  EXPECT_LT(result.val_rmse_na.back(), result.val_rmse_na.front());
  for (const char* file : {"training_data.pt", "config.yaml", "metrics.json", "run.log", "training_profile.png",
                           "training_profile.csv", "TEST_error.png", "TEST_error_vs_output.csv",
                           "TRAINING_error.csv", "VALIDATION_error_vs_output.png"})
    EXPECT_TRUE(fs::exists(result.run_dir / file)) << file;
  const nlohmann::json metrics = nlohmann::json::parse(std::ifstream(result.run_dir / "metrics.json"));
  EXPECT_DOUBLE_EQ(metrics["TEST"]["rmse_na"].get<double>(), test.rmse_na);

  // brains-cpp loads the file and computes the network's outputs in nA.
  const auto surrogate = processors::SurrogateFile::load(result.model_file);
  EXPECT_EQ(surrogate.info["training_configs"]["seed"].as<std::uint64_t>(), 3u);
  EXPECT_FALSE(surrogate.info["training_configs"]["model_structure"]);
  EXPECT_EQ(surrogate.info["model_structure"]["hidden_sizes"].size(), 2u);
  EXPECT_FALSE(surrogate.info["sampling_configs"]["electrode_info"]);
  EXPECT_EQ(surrogate.extras.at("epoch").as_int(), result.best_epoch);
  EXPECT_NEAR(surrogate.extras.at("test_loss").tensor().item<double>(), test.rmse_na, 1e-4 * test.rmse_na);
  EXPECT_EQ(surrogate.extras.at("train_losses").tensor().sizes(), (std::vector<std::int64_t>{30, 1}));
  processors::Processor processor(
      Config::parse("processor_type: simulation\nwaveform: {plateau_length: 1, slope_length: 0}\n"),
      surrogate.info, surrogate.model_state_dict);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(99);
  const at::Tensor v = at::rand({500, 7}, generator, at::kDouble) * 2 - 1;
  at::NoGradGuard no_grad;
  const at::Tensor predicted = processor->forward(v.to(at::kFloat)).to(at::kDouble);
  const double rmse = (predicted - device_current(v)).square().mean().sqrt().item<double>();
  EXPECT_LT(rmse, 1.5 * test.rmse_na);

  // Python's torch loads it, nothing inside is a numpy object (so newer torch loads it with
  // weights_only; torch 1.13's weights-only unpickler rejects every float), and the same
  // network in PyTorch gives the same outputs.
  io::write_npz(dir / "check.npz", {{"v", io::PyValue::array(v)}, {"y", io::PyValue::array(predicted)}});
  const auto python = testing::run_python(R"(
import numpy as np, torch
d = torch.load(')" + result.model_file.string() + R"(')
def plain(x, path):
    assert not type(x).__module__.startswith('numpy'), (path, type(x))
    if isinstance(x, dict):
        for k, v in x.items(): plain(v, path + '.' + str(k))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x): plain(v, path + '[%d]' % i)
plain(d, 'd')
for key in ('epoch', 'model_state_dict', 'info', 'optimizer_state_dict', 'train_losses', 'val_losses', 'min_val_loss', 'test_loss'):
    assert key in d, key
info = d['info']
assert info['model_structure'] == {'D_in': 7, 'D_out': 1, 'hidden_sizes': [32, 32], 'activation': 'relu'}, info['model_structure']
assert info['electrode_info']['output_electrodes']['amplification'] == [10.0]
assert info['training_configs']['seed'] == 3
assert d['optimizer_state_dict']['param_groups'][0]['betas'] == (0.9, 0.75)
opt = torch.optim.Adam([torch.zeros(1)], lr=1)
net = torch.nn.Sequential(torch.nn.Linear(7, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
net.load_state_dict({k.replace('raw_model.', ''): v for k, v in d['model_state_dict'].items()})
params = list(net.parameters())
optimizer = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.75))
optimizer.load_state_dict(d['optimizer_state_dict'])
c = np.load(')" + (dir / "check.npz").string() + R"(')
y = net(torch.tensor(c['v'], dtype=torch.float32)).detach().double().numpy() * 10.0
assert np.allclose(y, c['y'], rtol=1e-5, atol=1e-5), abs(y - c['y']).max()
assert d['train_losses'].shape == (30, 1) and d['min_val_loss'].shape == (1,)
print('ok')
)");
  EXPECT_EQ(python.exit_code, 0) << python.err << python.out;
  EXPECT_EQ(python.out, "ok\n");
}

TEST(SurrogateTraining, EarlyStoppingStopsAfterPatienceEpochs) {
  TempDir dir;
  const fs::path data = synthetic_npz(dir, 600, 1);
  // A zero learning rate never improves on the first epoch.
  TrainingOptions options = TrainingOptions::from_config(training_config(
      dir, "  dataset_paths: [" + data.string() + "]\n",
      "hyperparameters: {epochs: 50, learning_rate: 0.0, patience: 3}\n"));
  const TrainingResult result = train_surrogate(options);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.epochs_run, 4);
  EXPECT_EQ(result.best_epoch, 0);
  EXPECT_EQ(result.val_rmse_na.size(), 4u);
}

TEST(SurrogateTraining, WithoutValidationTheLastEpochIsKept) {
  TempDir dir;
  const fs::path data = synthetic_npz(dir, 600, 1);
  const TrainingResult result = train_surrogate(TrainingOptions::from_config(training_config(
      dir, "  dataset_paths: [" + data.string() + "]\n  split_percentages: [1.0]\n",
      "hyperparameters: {epochs: 5}\n")));
  EXPECT_EQ(result.best_epoch, 4);
  EXPECT_TRUE(result.val_rmse_na.empty());
  ASSERT_EQ(result.metrics.size(), 1u);
  const io::PyValue content = io::load_torch_file(result.model_file);
  EXPECT_TRUE(std::isinf(content.at("min_val_loss").as_double()));
  EXPECT_EQ(content.find("test_loss"), nullptr);  // no test split, no test loss
}

TEST(SurrogateTraining, SeparateFilesForTheSplits) {
  TempDir dir;
  const fs::path train = synthetic_npz(dir, 1000, 1, "train.npz");
  const fs::path test = synthetic_npz(dir, 300, 2, "test.npz");
  const TrainingResult result = train_surrogate(TrainingOptions::from_config(training_config(
      dir, "  dataset_paths: [" + train.string() + ", null, " + test.string() + "]\n",
      "hyperparameters: {epochs: 3}\n")));
  ASSERT_EQ(result.metrics.size(), 2u);
  EXPECT_EQ(result.metrics[0].samples, 1000);
  EXPECT_EQ(result.metrics[1].label, "TEST");
  const auto surrogate = processors::SurrogateFile::load(result.model_file);
  EXPECT_TRUE(surrogate.info["test_sampling_configs"]["electrode_info"]);
}

TEST(SurrogateTraining, BadConfigsAreConfigErrors) {
  TempDir dir;
  const fs::path data = synthetic_npz(dir, 100, 1);
  const std::string paths = "  dataset_paths: [" + data.string() + "]\n";
  EXPECT_THAT(config_error([&] {
                TrainingOptions::from_config(Config::parse(
                    "model_structure: {D_in: 7, D_out: 1, hidden_sizes: [8], activation: swish}\ndata:\n" + paths));
              }),
              HasSubstr("model_structure.activation: expected one of relu, elu, tanh, hard-tanh, sigmoid, got 'swish'"));
  EXPECT_THAT(config_error([&] {
                TrainingOptions::from_config(training_config(dir, paths + "  split_percentages: [0.8, 0.1, 0.2]\n"));
              }),
              HasSubstr("data.split_percentages: expected fractions summing to 1"));
  EXPECT_THAT(config_error([&] {
                TrainingOptions::from_config(training_config(dir, paths, "hyperparameters: {betas: [0.9, 1.2]}\n"));
              }),
              HasSubstr("hyperparameters.betas"));
  EXPECT_THAT(config_error([&] {
                TrainingOptions options = TrainingOptions::from_config(training_config(dir, paths));
                options.model_structure.d_in = 5;
                train_surrogate(options);
              }),
              HasSubstr("model_structure.D_in: is 5 but the training data has 7 input columns"));
}

TEST(SurrogateTraining, MetricsOfKnownPredictions) {
  // Spec §5.3: against the 94 upstream rows, predicting 0 gives the RMS of the outputs and
  // predicting the mean gives their standard deviation.
  const at::Tensor outputs = io::read_npz(reference_dir() / "upstream-files/smg/postprocessed_data.npz").tensor("outputs");
  const at::Tensor targets = (outputs / 39.5).to(at::kFloat);
  const SplitMetrics zero = split_metrics("TEST", at::zeros_like(targets), targets, {39.5});
  EXPECT_NEAR(zero.rmse_na, 1.4778261017, 1e-6);
  const SplitMetrics mean = split_metrics("TEST", at::full_like(targets, targets.mean().item<float>()), targets, {39.5});
  EXPECT_NEAR(mean.rmse_na, 1.0332233993, 1e-5);
  EXPECT_NEAR(mean.r2, 0.0, 1e-5);
  EXPECT_NEAR(mean.output_range_na, 3.9325224075 + 0.2412919546, 1e-5);
}

}  // namespace
}  // namespace brains::smg
