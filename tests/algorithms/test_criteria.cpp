// Criteria: parity with brains-py's signal.py, the spec's reference values, the fixed
// upstream defects (fisher_fit sign, NaN fitness), gradients and the registry.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "brains/algorithms/accuracy.h"
#include "brains/algorithms/criteria.h"
#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "support/temp_dir.h"

namespace brains::algorithms {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double scale = 1e-5) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor a = actual.to(at::kDouble);
  const at::Tensor e = expected.to(at::kDouble);
  const at::Tensor tolerance = scale * at::clamp_min(e.abs(), 1.0);
  EXPECT_LE(((a - e).abs() - tolerance).max().item<double>(), 0.0)
      << "max |Δ| = " << (a - e).abs().max().item<double>() << "\nactual " << a << "\nexpected " << e;
}

at::Tensor column(std::vector<float> values) {
  return at::tensor(values, at::kFloat).unsqueeze(1);
}

at::Generator generator(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Random outputs and balanced binary targets, (n, m).
std::pair<at::Tensor, at::Tensor> random_signals(std::uint64_t seed, std::int64_t n, std::int64_t m) {
  auto g = generator(seed);
  at::Tensor output = at::randn({n, m}, g, at::kFloat);
  at::Tensor target = at::rand({n, m}, g, at::kFloat).gt(0.5).to(at::kFloat);
  target[0] = 0;  // both classes in every column
  target[1] = 1;
  return {output, target};
}

// The parameters of a parity case, from cases.json.
Config parity_case(const std::string& seed, const std::string& name) {
  const Config cases = Config::load(reference_dir() / "parity" / seed / "cases.json");
  for (std::size_t i = 0; i < cases.node().size(); ++i)
    if (cases.node()[i]["case"].as<std::string>() == name) return Config(cases.node()[i], name);
  throw std::runtime_error("no parity case " + name);
}

class SignalParity : public ::testing::TestWithParam<std::string> {};

TEST_P(SignalParity, MatchesBrainsPy) {
  const std::string seed = GetParam();
  ASSERT_EQ(parity_case(seed, "signal").get<std::vector<std::string>>("functions").size(), 6u);
  const auto data = io::read_npz(reference_dir() / "parity" / seed / "signal.npz");
  const at::Tensor output = data.tensor("output");
  const at::Tensor target = data.tensor("target");
  expect_close(pearson(output, target), data.tensor("pearson"));
  expect_close(corrsig(output, target), data.tensor("corrsig"));
  expect_close(fisher(output, target), data.tensor("fisher"));
  expect_close(sigmoid_nn_distance(output), data.tensor("sigmoid_nn_distance"));
  expect_close(corrsig_fit(output, target), data.tensor("corrsig_fit"));
  expect_close(get_clamped_intervals(output / 10 + 0.5, "single_nn", {0.0, 1.0}),
               data.tensor("clamped_single_nn"));
  expect_close(corr_fit(output, target), data.tensor("pearson"));
  // Fixed defect (spec §15.15): upstream's fisher_fit returns the loss, −J; ours is +J, so
  // the GA maximises class separation.
  expect_close(fisher_fit(output, target), -data.tensor("fisher"));
}

INSTANTIATE_TEST_SUITE_P(Seeds, SignalParity, ::testing::Values("seed1", "seed2", "seed3"));

TEST(Criteria, ClampedIntervalsSpecExample) {
  const at::Tensor output = column({3, 1, 8, 9, 5});
  EXPECT_TRUE(at::equal(get_clamped_intervals(output, "single_nn", {1, 9}), column({0, 2, 2, 1, 0})));
  EXPECT_TRUE(at::equal(get_clamped_intervals(output, "double_nn", {1, 9}), column({0, 2, 2, 3, 1, 0})));
  EXPECT_TRUE(at::equal(get_clamped_intervals(output, "intervals", {1, 9}), column({2, 4, 5, 4, 1})));
}

TEST(Criteria, ClampedIntervalsRejectUnknownModeAndReversedBoundaries) {
  try {
    get_clamped_intervals(column({1, 2}), "nearest");
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown mode 'nearest'"));
    EXPECT_THAT(e.what(), HasSubstr("single_nn, double_nn, intervals"));
  }
  EXPECT_THROW(get_clamped_intervals(column({1, 2}), "single_nn", {1, 0}), ArgumentError);
}

TEST(Criteria, PearsonMatchesNumpyCorrcoef) {
  // np.corrcoef([1,2,3,4,5.5],[2,1,4,3,7])[0,1] and np.corrcoef([.5,-1,2,.25,3],[1,0,1,0,1])[0,1]
  const at::Tensor x =
      at::stack({at::tensor({1.0, 2.0, 3.0, 4.0, 5.5}), at::tensor({0.5, -1.0, 2.0, 0.25, 3.0})}, 1);
  const at::Tensor y =
      at::stack({at::tensor({2.0, 1.0, 4.0, 3.0, 7.0}), at::tensor({1.0, 0.0, 1.0, 0.0, 1.0})}, 1);
  const at::Tensor r = pearson(x, y);
  EXPECT_NEAR(r[0].item<double>(), 0.858086838240179, 1e-12);
  EXPECT_NEAR(r[1].item<double>(), 0.7727556926637407, 1e-12);
  expect_close(pearson(x.to(at::kFloat), y.to(at::kFloat)), r.to(at::kFloat), 1e-6);
}

TEST(Criteria, ConstantColumnsGiveNaNLossesAndDefaultFitness) {
  // 0.1 is not exact in binary, so a float mean of the column differs from its values.
  const at::Tensor output = at::stack({at::full({7}, 0.1f), at::linspace(0, 1, 7)}, 1);
  const at::Tensor target = at::stack({column({0, 1, 0, 1, 0, 1, 1}).squeeze(1),
                                       at::full({7}, 1.0f)}, 1);
  const at::Tensor r = pearson(output, target);
  EXPECT_TRUE(std::isnan(r[0].item<float>()));  // constant output
  EXPECT_TRUE(std::isnan(r[1].item<float>()));  // constant target
  EXPECT_TRUE(at::equal(corr_fit(output, target), at::full({2}, -1.0f)));
  EXPECT_TRUE(at::equal(corrsig_fit(output, target), at::full({2}, -1.0f)));
  EXPECT_TRUE(std::isnan(fisher(output, target)[0].item<float>()));
  EXPECT_EQ(fisher_fit(output, target)[0].item<float>(), 0.0f);
  EXPECT_FALSE(at::isnan(fisher_fit(output, target)).any().item<bool>());
}

TEST(Criteria, FisherFitIsHigherForBetterSeparation) {
  auto g = generator(4);
  const at::Tensor noise = at::randn({200, 1}, g);
  const at::Tensor target = (at::arange(200) % 2).to(at::kFloat).unsqueeze(1);
  const at::Tensor separated = noise + 4 * target;
  const at::Tensor overlapping = noise + 0.5 * target;
  const at::Tensor outputs = at::cat({separated, overlapping}, 1);
  const at::Tensor fitness = fisher_fit(outputs, target.expand({200, 2}));
  EXPECT_GT(fitness[0].item<float>(), fitness[1].item<float>());
  EXPECT_GT(fitness[1].item<float>(), 0.0f);
  expect_close(fitness, -fisher(outputs, target.expand({200, 2})));
  EXPECT_TRUE(criterion("fisher_fit").higher_is_better);
}

TEST(Criteria, ColumnsAreIndependent) {
  const auto [output, target] = random_signals(7, 50, 6);
  const std::vector<std::pair<std::string, std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>>>
      functions = {
          {"pearson", pearson},
          {"corrsig", [](const at::Tensor& o, const at::Tensor& t) { return corrsig(o, t, 0.1, 0.5, 1.2); }},
          {"fisher", fisher},
          {"sigmoid_nn_distance",
           [](const at::Tensor& o, const at::Tensor&) { return sigmoid_nn_distance(o, 0.5, 2.0, {-2, 2}); }},
          {"corrsig_fit", [](const at::Tensor& o, const at::Tensor& t) { return corrsig_fit(o, t, 0.2, 3); }},
          {"fisher_fit", fisher_fit},
          {"accuracy_fit", accuracy_fit},
          {"corr_fit", corr_fit},
      };
  for (const auto& [name, fn] : functions) {
    SCOPED_TRACE(name);
    const at::Tensor all = fn(output, target);
    ASSERT_EQ(all.sizes(), (std::vector<std::int64_t>{6}));
    for (std::int64_t c = 0; c < 6; ++c)
      expect_close(all.narrow(0, c, 1), fn(output.narrow(1, c, 1), target.narrow(1, c, 1)));
  }
}

TEST(Criteria, CorrsigAndCorrsigFitFollowTheirFormulas) {
  const at::Tensor output = column({0.1f, 0.9f, 0.3f, 0.7f, 0.2f, 0.8f});
  const at::Tensor target = column({0, 1, 0, 1, 0, 1});
  const double corr = pearson(output, target).item<double>();
  const double delta = 0.7 - 0.3;  // min high − max low
  const double sep = 0.8 - 0.2;    // mean high − mean low
  const auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  EXPECT_NEAR(corrsig(output, target, 0.1, 0.5, 1.2).item<double>(),
              (1.2 - corr) / sigmoid((delta - 0.1) / 0.5), 1e-5);
  EXPECT_NEAR(corrsig_fit(output, target, 0.1, 3).item<double>(), corr * sigmoid(3 * (sep - 0.1)), 1e-6);
  // A column without one class has no gap between classes.
  EXPECT_TRUE(std::isnan(corrsig(output, at::ones_like(output)).item<float>()));
}

TEST(Criteria, BceIsTheMeanBinaryCrossEntropyWithLogits) {
  const at::Tensor logits = at::tensor({-2.0, 0.5, 3.0, 0.0}).view({2, 2});
  const at::Tensor target = at::tensor({0.0, 1.0, 0.0, 1.0}).view({2, 2});
  const at::Tensor p = at::sigmoid(logits);
  const double expected = -(target * p.log() + (1 - target) * (1 - p).log()).mean().item<double>();
  const at::Tensor loss = bce(logits, target);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_NEAR(loss.item<double>(), expected, 1e-12);
}

TEST(Criteria, AccuracyFitIsTheOptimalThresholdAccuracyInPercent) {
  auto [output, target] = random_signals(3, 40, 4);
  output[5][2] = std::numeric_limits<float>::quiet_NaN();
  const at::Tensor fitness = accuracy_fit(output, target);
  EXPECT_EQ(fitness.scalar_type(), at::kFloat);
  for (std::int64_t c : {0, 1, 3}) {
    const ThresholdAccuracy best = optimal_threshold_accuracy(output.select(1, c), target.select(1, c));
    EXPECT_FLOAT_EQ(fitness[c].item<float>(), static_cast<float>(best.accuracy_percent));
    EXPECT_GE(best.accuracy_percent, 50.0);
  }
  EXPECT_EQ(fitness[2].item<float>(), 0.0f);  // a NaN column gets the default, never ranks best
  const at::Tensor separable = column({0.1f, 0.2f, 0.9f, 1.1f});
  EXPECT_EQ(accuracy_fit(separable, column({0, 0, 1, 1})).item<float>(), 100.0f);
}

// d/dx of sum(fn(x)) by autograd against central differences, in double precision.
void check_gradient(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& x0) {
  const at::Tensor x = x0.to(at::kDouble).clone().requires_grad_();
  fn(x).sum().backward();
  const at::Tensor analytic = x.grad();
  at::NoGradGuard no_grad;
  const double h = 1e-6;
  const at::Tensor flat = x0.to(at::kDouble).flatten();
  for (std::int64_t i = 0; i < flat.numel(); ++i) {
    const at::Tensor up = flat.clone(), down = flat.clone();
    up[i] += h;
    down[i] -= h;
    const double numeric =
        (fn(up.view(x0.sizes())).sum().item<double>() - fn(down.view(x0.sizes())).sum().item<double>()) / (2 * h);
    EXPECT_NEAR(analytic.flatten()[i].item<double>(), numeric, 1e-5 * std::max(1.0, std::abs(numeric)))
        << "element " << i;
  }
}

TEST(Criteria, LossesAreDifferentiable) {
  auto g = generator(9);
  const at::Tensor output = at::rand({12, 2}, g, at::kDouble) * 0.8 + 0.1;  // distinct, inside [0, 1]
  const at::Tensor target = (at::arange(24, at::kDouble).view({12, 2}).remainder(3) == 0).to(at::kDouble);
  check_gradient([&](const at::Tensor& x) { return corrsig(x, target); }, output);
  check_gradient([&](const at::Tensor& x) { return fisher(x, target); }, output);
  check_gradient([&](const at::Tensor& x) { return sigmoid_nn_distance(x); }, output);
  check_gradient([&](const at::Tensor& x) { return bce(x, target); }, output);
  check_gradient([&](const at::Tensor& x) { return pearson(x, target); }, output);
  check_gradient([&](const at::Tensor& x) { return corrsig_fit(x, target); }, output);
  check_gradient([&](const at::Tensor& x) { return fisher_fit(x, target); }, output);
}

// corrsig runs a fused kernel on CPU tensors; a target that requires grad takes the
// composite of ATen ops instead. Both must agree in value and gradient, ties and NaN included.
TEST(Criteria, CorrsigKernelMatchesTheCompositeDefinition) {
  auto g = generator(4);
  at::Tensor output = at::rand({16, 4}, g, at::kFloat);
  at::Tensor target = (at::arange(64).view({16, 4}).remainder(3) == 0).to(at::kFloat);
  // Column 1: lows in [0, 0.3) and highs in [0.7, 1), then three lows tied at the low
  // class's max and three highs tied at the high class's min.
  target.select(1, 1).narrow(0, 0, 3).fill_(0.0f);
  target.select(1, 1).narrow(0, 3, 3).fill_(1.0f);
  output.select(1, 1).mul_(0.3f).add_(target.select(1, 1) * 0.7f);
  output.select(1, 1).narrow(0, 0, 3).fill_(0.6f);
  output.select(1, 1).narrow(0, 3, 3).fill_(0.4f);
  target.select(1, 2).fill_(1.0f);  // one class only: NaN
  output.select(1, 3).fill_(0.5f);  // constant column: NaN
  const auto loss_and_gradient = [&](bool composite) {
    const at::Tensor x = output.clone().requires_grad_();
    const at::Tensor t = composite ? target.clone().requires_grad_() : target;
    const at::Tensor loss = corrsig(x, t, 0.1, 0.5, 1.2);
    at::where(at::isnan(loss), at::zeros_like(loss), loss).sum().backward();
    return std::make_pair(loss.detach(), x.grad());
  };
  const auto [kernel_loss, kernel_grad] = loss_and_gradient(false);
  const auto [composite_loss, composite_grad] = loss_and_gradient(true);
  EXPECT_TRUE(at::allclose(kernel_loss, composite_loss, 1e-5, 1e-6, /*equal_nan=*/true))
      << kernel_loss << composite_loss;
  EXPECT_TRUE(std::isnan(kernel_loss[2].item<float>()) && std::isnan(kernel_loss[3].item<float>()));
  EXPECT_TRUE(at::allclose(kernel_grad, composite_grad, 1e-4, 1e-5, /*equal_nan=*/true))
      << kernel_grad << composite_grad;
  // Tied extremes share the gradient of the gap evenly, as amin/amax do.
  const at::Tensor tied = kernel_grad.select(1, 1).narrow(0, 0, 6);
  EXPECT_FLOAT_EQ(tied[0].item<float>(), tied[2].item<float>());
  EXPECT_FLOAT_EQ(tied[3].item<float>(), tied[5].item<float>());
}

TEST(Criteria, RegistryHoldsBrainsPyNames) {
  EXPECT_EQ(criterion_names(),
            (std::vector<std::string>{"accuracy_fit", "bce", "corr_fit", "corrsig", "corrsig_fit",
                                      "fisher", "fisher_fit", "sigmoid_nn_distance"}));
  const auto [output, target] = random_signals(5, 30, 3);
  for (const std::string& name : criterion_names()) {
    SCOPED_TRACE(name);
    const Criterion& c = criterion(name);
    EXPECT_EQ(c.name, name);
    EXPECT_EQ(c.higher_is_better, name.size() > 4 && name.substr(name.size() - 4) == "_fit");
    EXPECT_EQ(c.differentiable, name != "accuracy_fit");
    EXPECT_EQ(c.fn(output, target).numel(), name == "bce" ? 1 : 3);
    if (!c.higher_is_better) EXPECT_EQ(c.default_value, std::numeric_limits<double>::infinity());
  }
  expect_close(criterion("corrsig").fn(output, target), corrsig(output, target));
  expect_close(criterion("fisher_fit").fn(output, target), fisher_fit(output, target));
  expect_close(criterion("sigmoid_nn_distance").fn(output, target), sigmoid_nn_distance(output));
  EXPECT_EQ(criterion("corr_fit").default_value, -1.0);
  EXPECT_EQ(criterion("corrsig_fit").default_value, -1.0);
  EXPECT_EQ(criterion("accuracy_fit").default_value, 0.0);
  EXPECT_EQ(criterion("fisher_fit").default_value, 0.0);
}

TEST(Criteria, UnknownCriterionListsTheValidNames) {
  try {
    criterion("mse");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "algorithm.criterion");
    EXPECT_THAT(e.what(), HasSubstr("unknown criterion 'mse'"));
    EXPECT_THAT(e.what(), HasSubstr("valid: accuracy_fit, bce, corr_fit, corrsig, corrsig_fit, fisher, "
                                    "fisher_fit, sigmoid_nn_distance"));
  }
}

TEST(Criteria, ShapeMismatchNamesBothShapes) {
  const at::Tensor output = at::zeros({40, 2});
  const at::Tensor target = at::zeros({40, 3});
  for (const std::string& name : criterion_names()) {
    if (name == "sigmoid_nn_distance") continue;  // ignores the target
    SCOPED_TRACE(name);
    try {
      criterion(name).fn(output, target);
      FAIL() << "expected ArgumentError";
    } catch (const ArgumentError& e) {
      EXPECT_THAT(e.what(), HasSubstr("(40, 2)"));
      EXPECT_THAT(e.what(), HasSubstr("(40, 3)"));
    }
  }
  EXPECT_THROW(pearson(at::zeros({40}), at::zeros({40})), ArgumentError);   // not (n, m)
  EXPECT_THROW(fisher(at::zeros({4, 1}, at::kLong), at::zeros({4, 1})), ArgumentError);  // not float
  EXPECT_THROW(accuracy_fit(at::rand({8, 1}), at::full({8, 1}, 0.5)), ArgumentError);  // not binary
}

}  // namespace
}  // namespace brains::algorithms
