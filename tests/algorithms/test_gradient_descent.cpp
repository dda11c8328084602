// Gradient descent: XOR on a trained fixture surrogate, the clip and regul constraints on
// every DNPU layer of a model, best-state restore, early stopping, schedulers, determinism,
// options from brains-py configs, run outputs and bad input.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/algorithms/accuracy.h"
#include "brains/algorithms/adam.h"
#include "brains/algorithms/algorithm.h"
#include "brains/algorithms/criteria.h"
#include "brains/algorithms/gradient_descent.h"
#include "brains/algorithms/run_outputs.h"
#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/modules/dnpu.h"
#include "support/fixture_surrogate.h"
#include "support/temp_dir.h"

namespace brains::algorithms {
namespace {

using modules::DNPU;
using modules::DNPUOptions;
using ::testing::HasSubstr;

at::Tensor xor_targets() { return at::tensor({0.0f, 1.0f, 1.0f, 0.0f}).view({4, 1}); }

DNPU xor_dnpu(std::uint64_t seed = 1) {
  DNPU dnpu(testing::fixture_processor(), DNPUOptions({{3, 4}}).seed(seed));
  dnpu->add_input_transform({-1.0, 1.0});
  return dnpu;
}

std::function<at::Tensor(const at::Tensor&)> forward_of(DNPU& dnpu) {
  return [dnpu](const at::Tensor& x) mutable { return dnpu->forward(x); };
}

GradientDescentOptions quiet_options() { return GradientDescentOptions().progress(false); }

Dataset xor_data() { return {testing::boolean_square(), xor_targets()}; }

bool in_range(const DNPU& dnpu) {
  const at::Tensor v = dnpu->control_voltages();
  const at::Tensor ranges = dnpu->control_ranges();
  return (v >= ranges.select(-1, 0)).all().item<bool>() &&
         (v <= ranges.select(-1, 1)).all().item<bool>();
}

// Maximises the mean output: drives the control voltages towards their range limits.
const Criterion& push_up() {
  static const Criterion c{
      "push_up", false, true,
      [](const at::Tensor& output, const at::Tensor&) { return -output.mean(0); },
      std::numeric_limits<double>::infinity()};
  return c;
}

// A loss with no gradient: only the regulariser moves the voltages.
const Criterion& flat() {
  static const Criterion c{
      "flat", false, true,
      [](const at::Tensor& output, const at::Tensor&) { return output.sum(0) * 0; },
      std::numeric_limits<double>::infinity()};
  return c;
}

// Two DNPU layers: two nodes on the inputs, then one node on their outputs.
struct TwoLayers : torch::nn::Module {
  TwoLayers() {
    first = register_module(
        "first", DNPU(testing::fixture_processor(), DNPUOptions({{3, 4}, {3, 4}}).seed(3)));
    second = register_module("second",
                             DNPU(testing::fixture_processor(), DNPUOptions({{3, 4}}).seed(4)));
    first->add_input_transform({-1.0, 1.0});
    second->add_input_transform({-40.0, 40.0});
  }
  at::Tensor forward(const at::Tensor& x) {
    return second->forward(first->forward(at::cat({x, x}, 1)));
  }
  DNPU first{nullptr}, second{nullptr};
};

// ---------------------------------------------------------------------------------------
// Options

TEST(GradientDescentOptions, FromConfigReadsBrainsPyKeys) {
  const GradientDescentOptions options = GradientDescentOptions::from_config(Config::parse(
      "type: gradient\nepochs: 400\nlearning_rate: 0.01\ncriterion: corrsig\noptimizer: adam\n"
      "constraint_control_voltages: clip\nregul_factor: 0.5\npatience: 20\nmin_delta: 0.001\n"
      "scheduler: {type: step, step_size: 50, gamma: 0.1}\n",
      "algorithm"));
  EXPECT_EQ(options.epochs(), 400);
  EXPECT_EQ(options.learning_rate(), 0.01);
  EXPECT_EQ(options.constraint(), "clip");
  EXPECT_EQ(options.regul_factor(), 0.5);
  EXPECT_EQ(options.patience(), 20);
  EXPECT_EQ(options.min_delta(), 0.001);
  ASSERT_TRUE(options.scheduler().has_value());
  EXPECT_EQ(options.scheduler()->type(), "step");
  EXPECT_EQ(options.scheduler()->step_size(), 50);
  // Surrogate-training configs keep them under hyperparameters.
  const auto nested = GradientDescentOptions::from_config(
      Config::parse("hyperparameters: {epochs: 7, learning_rate: 0.002, betas: [0.8, 0.9]}\n"));
  EXPECT_EQ(nested.epochs(), 7);
  EXPECT_EQ(nested.learning_rate(), 0.002);
  EXPECT_EQ(nested.betas(), (std::vector<double>{0.8, 0.9}));
}

TEST(GradientDescentOptions, BadValuesNameTheirKey) {
  try {
    GradientDescentOptions::from_config(Config::parse("constraint_control_voltages: clamp\n", "x"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key_path(), "constraint_control_voltages");
  }
  try {
    GradientDescentOptions::from_config(Config::parse("optimizer: sgd\n", "x"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key_path(), "optimizer");
  }
  EXPECT_THROW(GradientDescentOptions::from_config(Config::parse("epochs: 0\n")), ConfigError);
  EXPECT_THROW(GradientDescentOptions::from_config(Config::parse("scheduler: {type: cosine}\n")),
               ConfigError);
}

// ---------------------------------------------------------------------------------------
// Adam

TEST(Adam, MatchesTorchAdam) {
  for (const bool amsgrad : {false, true}) {
    for (const double weight_decay : {0.0, 0.01}) {
      const at::Tensor start = at::randn({3, 5});
      at::Tensor ours = start.clone().requires_grad_(true);
      at::Tensor theirs = start.clone().requires_grad_(true);
      Adam adam({ours}, AdamSettings{0.01, 0.8, 0.99, 1e-8, weight_decay, amsgrad});
      torch::optim::Adam reference({theirs}, torch::optim::AdamOptions(0.01)
                                                 .betas({0.8, 0.99})
                                                 .weight_decay(weight_decay)
                                                 .amsgrad(amsgrad));
      for (int step = 0; step < 50; ++step) {
        const at::Tensor grad = at::randn({3, 5}) * (step % 7 + 1);
        ours.mutable_grad() = grad.clone();
        theirs.mutable_grad() = grad.clone();
        ASSERT_TRUE(adam.step());
        reference.step();
      }
      EXPECT_TRUE(at::allclose(ours, theirs, 1e-5, 1e-6)) << amsgrad << " " << weight_decay;
    }
  }
}

TEST(Adam, RefusesNonFiniteGradientsAndBadParameters) {
  at::Tensor p = at::ones({4}).requires_grad_(true);
  Adam adam({p}, AdamSettings{0.1});
  p.mutable_grad() = at::tensor({1.0f, INFINITY, 0.0f, 1.0f});
  EXPECT_FALSE(adam.step());
  EXPECT_TRUE(at::equal(p, at::ones({4})));
  adam.zero_grad();
  EXPECT_TRUE(at::equal(p.grad(), at::zeros({4})));
  EXPECT_TRUE(adam.step());
  EXPECT_THROW(Adam({at::ones({4}, at::kInt)}, AdamSettings{}), ArgumentError);
  EXPECT_THROW(Adam({at::ones({4, 4}).t()}, AdamSettings{}), ArgumentError);
}

// ---------------------------------------------------------------------------------------
// Training

TEST(GradientDescent, FindsXorOnTheFixtureSurrogate) {
  // brains-py's boolean task: corrsig, Adam lr 0.01, 400 epochs, regul, and up to
  // max_attempts = 5 fresh starts (GD from a random start can end in a local minimum).
  double accuracy = 0;
  int attempts = 0;
  GradientDescentResult result;
  while (accuracy < 100 && attempts < 5) {
    DNPU dnpu = xor_dnpu(++attempts);
    result = train_gradient_descent(
        *dnpu, forward_of(dnpu), xor_data(), std::nullopt, criterion("corrsig"),
        quiet_options().epochs(400).learning_rate(0.01).constraint("regul"));
    at::NoGradGuard no_grad;
    const at::Tensor output = dnpu->forward(testing::boolean_square());
    accuracy = optimal_threshold_accuracy(output, xor_targets()).accuracy_percent;
    EXPECT_TRUE(at::allclose(output, result.train_output));  // the model holds the best state
  }
  EXPECT_EQ(accuracy, 100.0) << result.train_output;
  EXPECT_EQ(result.epochs_run, 400);
  EXPECT_LT(result.best_loss, result.train_losses.front());
}

TEST(GradientDescent, ClipKeepsEveryLayerInRange) {
  TwoLayers model;
  int epochs_seen = 0;
  const auto logger = [&](const EpochLog& log) {
    EXPECT_EQ(log.epoch, epochs_seen++);
    EXPECT_TRUE(in_range(model.first)) << log.epoch;
    EXPECT_TRUE(in_range(model.second)) << log.epoch;
    EXPECT_EQ(log.regularizer, 0.0);
  };
  const auto result = train_gradient_descent(
      model, [&](const at::Tensor& x) { return model.forward(x); }, xor_data(), std::nullopt,
      push_up(), quiet_options().epochs(40).learning_rate(0.2).constraint("clip"), logger);
  EXPECT_EQ(epochs_seen, 40);
  // The push reached the limits: the constraint had work to do.
  const at::Tensor high = model.second->control_ranges().select(-1, 1);
  const at::Tensor low = model.second->control_ranges().select(-1, 0);
  const at::Tensor v = model.second->control_voltages();
  EXPECT_TRUE(((v == high) | (v == low)).any().item<bool>()) << v;
}

TEST(GradientDescent, RegulPullsVoltagesBackIntoRange) {
  DNPU dnpu = xor_dnpu();
  dnpu->set_control_voltages(dnpu->control_ranges().select(-1, 1) + 0.3);  // 0.3 V above every max
  const double before = dnpu->regularizer().item<double>();
  EXPECT_NEAR(before, 1.5, 1e-5);
  const auto result =
      train_gradient_descent(*dnpu, forward_of(dnpu), xor_data(), std::nullopt, flat(),
                             quiet_options().epochs(100).learning_rate(0.01).constraint("regul"));
  EXPECT_LT(result.regularizer_history.back(), 0.05 * before);
  for (std::size_t e = 1; e < result.regularizer_history.size(); ++e)
    EXPECT_LE(result.regularizer_history[e], result.regularizer_history[e - 1] + 1e-6) << e;
  EXPECT_LT(dnpu->regularizer().item<double>(), 0.05 * before);
}

TEST(GradientDescent, RestoresTheBestValidationState) {
  DNPU dnpu = xor_dnpu(2);
  // Validation on the same points with inverted targets: training makes it worse, so the best
  // validation state is an early one.
  const Dataset validation{testing::boolean_square(), 1 - xor_targets()};
  const auto options = quiet_options().epochs(60).learning_rate(0.05).constraint("clip");
  const auto result = train_gradient_descent(*dnpu, forward_of(dnpu), xor_data(), validation,
                                             criterion("corrsig"), options);
  ASSERT_EQ(result.val_losses.size(), 60u);
  const auto lowest = std::min_element(result.val_losses.begin(), result.val_losses.end());
  EXPECT_EQ(result.best_epoch, lowest - result.val_losses.begin());
  EXPECT_EQ(result.best_loss, *lowest);
  const auto validation_loss = [&](DNPU& model) {
    at::NoGradGuard no_grad;
    return criterion("corrsig")
        .fn(model->forward(validation.inputs), validation.targets)
        .mean()
        .item<double>();
  };
  EXPECT_NEAR(validation_loss(dnpu), result.best_loss, 1e-6);

  DNPU last = xor_dnpu(2);
  const auto kept =
      train_gradient_descent(*last, forward_of(last), xor_data(), validation, criterion("corrsig"),
                             GradientDescentOptions(options).return_best_model(false));
  EXPECT_NEAR(validation_loss(last), kept.val_losses.back(), 1e-6);
}

TEST(GradientDescent, EarlyStoppingWaitsForPatience) {
  DNPU dnpu = xor_dnpu();
  // A loss that cannot improve: the best stays at the first epoch, and patience epochs later
  // the run stops.
  const auto result = train_gradient_descent(*dnpu, forward_of(dnpu), xor_data(), std::nullopt,
                                             flat(), quiet_options().epochs(400).patience(5));
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.epochs_run, 6);
  EXPECT_EQ(result.best_epoch, 0);
  // Improvements smaller than min_delta do not count (the output rises by ~1e-3 nA an epoch).
  const auto slow = quiet_options().epochs(200).learning_rate(1e-4).constraint("clip").patience(5);
  DNPU small_steps = xor_dnpu();
  const auto stalled =
      train_gradient_descent(*small_steps, forward_of(small_steps), xor_data(), std::nullopt,
                             push_up(), GradientDescentOptions(slow).min_delta(1.0));
  EXPECT_TRUE(stalled.stopped_early);
  EXPECT_EQ(stalled.epochs_run, 6);
  DNPU counted = xor_dnpu();
  const auto improving = train_gradient_descent(*counted, forward_of(counted), xor_data(),
                                                std::nullopt, push_up(), slow);
  EXPECT_FALSE(improving.stopped_early);
  EXPECT_EQ(improving.epochs_run, 200);
  EXPECT_EQ(improving.best_epoch, 199);
}

TEST(GradientDescent, SchedulersLowerTheLearningRate) {
  DNPU dnpu = xor_dnpu();
  const auto stepped = train_gradient_descent(
      *dnpu, forward_of(dnpu), xor_data(), std::nullopt, criterion("corrsig"),
      quiet_options().epochs(25).learning_rate(0.01).scheduler(
          SchedulerOptions("step").step_size(10).gamma(0.5)));
  EXPECT_EQ(stepped.learning_rates[9], 0.01);
  EXPECT_EQ(stepped.learning_rates[10], 0.005);
  EXPECT_EQ(stepped.learning_rates[20], 0.0025);
  DNPU flat_dnpu = xor_dnpu();
  const auto plateau =
      train_gradient_descent(*flat_dnpu, forward_of(flat_dnpu), xor_data(), std::nullopt, flat(),
                             quiet_options().epochs(10).learning_rate(0.01).scheduler(
                                 SchedulerOptions("plateau").patience(2).factor(0.1)));
  EXPECT_EQ(plateau.learning_rates[3], 0.01);
  EXPECT_NEAR(plateau.learning_rates[4], 0.001, 1e-12);
}

TEST(GradientDescent, MiniBatchesAreShuffledDeterministically) {
  const at::Tensor inputs = at::rand({64, 2}) * 2 - 1;
  const at::Tensor targets =
      (inputs.select(1, 0) * inputs.select(1, 1) > 0).to(at::kFloat).unsqueeze(1);
  const auto run = [&](std::uint64_t seed) {
    DNPU dnpu = xor_dnpu();
    return train_gradient_descent(
        *dnpu, forward_of(dnpu), {inputs, targets}, Dataset{inputs, targets}, criterion("corrsig"),
        quiet_options().epochs(5).batch_size(16).seed(seed).learning_rate(0.01));
  };
  const auto a = run(1), b = run(1), c = run(2);
  EXPECT_EQ(a.train_losses, b.train_losses);
  EXPECT_EQ(a.val_losses, b.val_losses);
  EXPECT_NE(a.train_losses, c.train_losses);
}

TEST(GradientDescent, RunOutputsAreWrittenAsPlainFiles) {
  testing::TempDir dir;
  DNPU dnpu = xor_dnpu();
  const auto result = train_gradient_descent(*dnpu, forward_of(dnpu), xor_data(), xor_data(),
                                             criterion("corrsig"), quiet_options().epochs(5));
  write_run_outputs(dir.path(), gradient_run_outputs(result));
  for (const char* name :
       {"summary.json", "results.npz", "loss_history.csv", "output_vs_target.csv"})
    EXPECT_TRUE(std::filesystem::exists(dir / name)) << name;
  const io::NpzFile npz = io::read_npz(dir / "results.npz");
  EXPECT_EQ(npz.tensor("train_losses").numel(), 5);
  EXPECT_EQ(npz.tensor("val_losses").numel(), 5);
  std::ifstream json(dir / "summary.json");
  const auto summary = nlohmann::json::parse(json);
  EXPECT_EQ(summary["algorithm"], "gradient");
  EXPECT_EQ(summary["constraint"], "regul");
  EXPECT_EQ(summary["epochs_run"], 5);
}

TEST(GradientDescent, BadInputIsRejected) {
  DNPU dnpu = xor_dnpu();
  const auto options = quiet_options().epochs(2);
  const auto expect_error = [&](const Dataset& train, const std::optional<Dataset>& validation,
                                const Criterion& loss, const std::string& message) {
    try {
      train_gradient_descent(*dnpu, forward_of(dnpu), train, validation, loss, options);
      FAIL() << message;
    } catch (const ArgumentError& error) {
      EXPECT_THAT(error.what(), HasSubstr(message));
    }
  };
  expect_error({at::empty({0, 2}), at::empty({0, 1})}, std::nullopt, criterion("corrsig"),
               "training set is empty");
  expect_error({at::Tensor(), at::Tensor()}, std::nullopt, criterion("corrsig"),
               "training set is empty");
  expect_error(xor_data(), Dataset{at::empty({0, 2}), at::empty({0, 1})}, criterion("corrsig"),
               "validation set is empty");
  expect_error({testing::boolean_square(), at::zeros({3, 1})}, std::nullopt, criterion("corrsig"),
               "one row per point");
  expect_error(xor_data(), std::nullopt, criterion("accuracy_fit"), "not differentiable");
  try {
    check_algorithm_name("adam");
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("valid: genetic, gradient"));
  }
}

}  // namespace
}  // namespace brains::algorithms
