#include "brains/smg/mlp_trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include "brains/core/error.h"

namespace brains::smg {
namespace {

using processors::ModelStructure;
using processors::NeuralNetworkModel;

ModelStructure structure(const std::string& activation, std::int64_t d_out = 1,
                         std::vector<std::int64_t> hidden = {90, 90, 90, 90, 90}) {
  ModelStructure s;
  s.activation = activation;
  s.d_out = d_out;
  s.hidden_sizes = std::move(hidden);
  return s;
}

NeuralNetworkModel seeded_model(const ModelStructure& s, std::uint64_t seed) {
  NeuralNetworkModel model(s);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(p.dim() == 2 ? p.size(1) : p.size(0)));
    p.copy_((at::rand(p.sizes(), generator) * 2 - 1) * bound);
  }
  return model;
}

NeuralNetworkModel copy_of(const NeuralNetworkModel& model) {
  return NeuralNetworkModel(std::dynamic_pointer_cast<processors::NeuralNetworkModelImpl>(model->clone()));
}

// Both runs see the same data, so they differ only by float rounding (another summation
// order in BLAS and in the reductions). Adam divides by the gradient's running RMS, which
// keeps such differences small but does not shrink them to the rounding level everywhere:
// a pre-activation within rounding of 0 can take the ReLU's other branch for one sample.
// So: every parameter within 1e-4 (Adam moves them by ~1e-3 a step), the mean within 1e-7.
void expect_parameters_close(const NeuralNetworkModel& a, const NeuralNetworkModel& b, const std::string& what) {
  const auto pa = a->named_parameters();
  const auto pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const at::Tensor difference = (pa[i].value() - pb[i].value()).abs();
    EXPECT_LE(difference.max().item<double>(), 1e-4) << what << " " << pa[i].key();
    EXPECT_LE(difference.mean().item<double>(), 1e-7) << what << " " << pa[i].key();
  }
}

struct Batch {
  at::Tensor inputs, targets;
};

std::vector<Batch> batches(std::int64_t d_out, std::vector<std::int64_t> sizes, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<Batch> out;
  for (auto size : sizes) {
    const at::Tensor x = at::rand({size, 7}, generator) * 2 - 1;
    at::Tensor t = at::sin(x.matmul(at::ones({7, d_out})) * 2) + 0.1 * at::randn({size, d_out}, generator);
    out.push_back({x, t.contiguous()});
  }
  return out;
}

class FusedEqualsAutograd : public ::testing::TestWithParam<std::string> {};

// The fused trainer, LibTorch autograd with torch::optim::Adam, and the trainer's own autograd
// path take the same steps from the same start: parameters agree to float rounding.
TEST_P(FusedEqualsAutograd, SameParametersAfterSteps) {
  const std::string activation = GetParam();
  for (std::int64_t d_out : {1, 2}) {
    const ModelStructure s = structure(activation, d_out);
    const NeuralNetworkModel start = seeded_model(s, 11);
    const algorithms::AdamSettings adam{1e-3, 0.9, 0.75, 1e-8, 0.0, false};
    MlpTrainer fused(copy_of(start), adam, {2, true});
    ASSERT_TRUE(fused.fused());
    MlpTrainer plain(copy_of(start), adam, {1, false});
    ASSERT_FALSE(plain.fused());
    NeuralNetworkModel reference = copy_of(start);
    torch::optim::Adam optimizer(reference->parameters(),
                                 torch::optim::AdamOptions(1e-3).betas({0.9, 0.75}).eps(1e-8));

    // 256-row batches split over two threads, and small ones that stay on one.
    for (const Batch& batch : batches(d_out, {256, 256, 100, 256, 37, 256}, 5)) {
      optimizer.zero_grad();
      const at::Tensor loss = at::mse_loss(reference->forward(batch.inputs), batch.targets);
      loss.backward();
      optimizer.step();
      const double fused_loss = fused.step(batch.inputs, batch.targets);
      const double plain_loss = plain.step(batch.inputs, batch.targets);
      EXPECT_NEAR(fused_loss, loss.item<double>(), 1e-5 * loss.item<double>()) << activation;
      EXPECT_NEAR(plain_loss, loss.item<double>(), 1e-6 * loss.item<double>()) << activation;
    }
    EXPECT_EQ(fused.steps(), 6);
    expect_parameters_close(fused.model(), reference, activation + " fused vs torch");
    expect_parameters_close(plain.model(), reference, activation + " autograd vs torch");
    // And the parameters did move.
    const double moved = (fused.model()->parameters()[0] - start->parameters()[0]).abs().max().item<double>();
    EXPECT_GT(moved, 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, FusedEqualsAutograd,
                         ::testing::Values("relu", "elu", "tanh", "hard-tanh", "sigmoid"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(MlpTrainer, SnapshotRestoresParametersAndAdamState) {
  const ModelStructure s = structure("relu", 1, {16, 16});
  MlpTrainer trainer(seeded_model(s, 3), algorithms::AdamSettings{1e-2, 0.9, 0.75}, {});
  const auto data = batches(1, {64, 64, 64}, 9);
  trainer.step(data[0].inputs, data[0].targets);
  const MlpTrainer::Snapshot snapshot = trainer.snapshot();
  const double next = trainer.step(data[1].inputs, data[1].targets);
  trainer.step(data[2].inputs, data[2].targets);
  trainer.restore(snapshot);
  EXPECT_EQ(trainer.steps(), 1);
  EXPECT_DOUBLE_EQ(trainer.step(data[1].inputs, data[1].targets), next);
}

TEST(MlpTrainer, OptimizerStateDictHasTorchsLayout) {
  const ModelStructure s = structure("relu", 1, {8});
  MlpTrainer trainer(seeded_model(s, 3), algorithms::AdamSettings{1e-3, 0.9, 0.75}, {});
  const auto data = batches(1, {32, 32}, 1);
  for (const auto& b : data) trainer.step(b.inputs, b.targets);
  const io::PyValue state = trainer.optimizer_state_dict(trainer.snapshot());
  const io::PyValue& group = state.at("param_groups").items().at(0);
  EXPECT_EQ(group.at("betas").kind(), io::PyValue::Kind::Tuple);
  EXPECT_DOUBLE_EQ(group.at("betas").items()[1].as_double(), 0.75);
  EXPECT_EQ(group.at("params").items().size(), 4u);
  const auto& entries = state.at("state").dict_items();
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].first.as_int(), 0);
  EXPECT_EQ(entries[0].second.at("step").tensor().item<double>(), 2.0);
  EXPECT_EQ(entries[0].second.at("exp_avg").tensor().sizes(), (std::vector<std::int64_t>{8, 7}));
}

TEST(MlpTrainer, WrongShapesAreArgumentErrors) {
  MlpTrainer trainer(seeded_model(structure("relu", 1, {8}), 1), algorithms::AdamSettings{}, {});
  EXPECT_THROW(trainer.step(at::zeros({4, 6}), at::zeros({4, 1})), ArgumentError);
  EXPECT_THROW(trainer.step(at::zeros({4, 7}), at::zeros({3, 1})), ArgumentError);
  EXPECT_THROW(MlpTrainer(seeded_model(structure("relu", 1, {8}), 1),
                          algorithms::AdamSettings{1e-3, 0.9, 1.5}, {}),
               ArgumentError);
}

}  // namespace
}  // namespace brains::smg
