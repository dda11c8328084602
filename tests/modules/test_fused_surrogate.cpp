// The fused surrogate forward (outputs and input gradients in one chunked pass) against
// Processor::forward under autograd: outputs, gradients, effects and when it applies.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "brains/core/error.h"
#include "brains/modules/dnpu.h"
#include "brains/modules/fused_surrogate.h"
#include "brains/processors/surrogate_file.h"
#include "support/temp_dir.h"

namespace brains::modules {
namespace {

using processors::Processor;
using processors::SurrogateFile;
using testing::reference_dir;

Config simulation(int plateau = 1) {
  return Config::parse("processor_type: simulation\nwaveform:\n  plateau_length: " + std::to_string(plateau) +
                       "\n  slope_length: 0\n");
}

Processor load_processor(const std::string& seed, const Config& configs = simulation()) {
  const auto file = SurrogateFile::load(reference_dir() / "parity" / seed / "surrogate.pt");
  return Processor(configs, file.info, file.model_state_dict);
}

// A frozen surrogate with random weights and the given activation.
Processor random_processor(const std::string& activation) {
  const YAML::Node info = YAML::Load(
      "model_structure: {D_in: 7, D_out: 1, hidden_sizes: [20, 30, 20], activation: " + activation + "}\n"
      "electrode_info:\n  electrode_no: 8\n  activation_electrodes:\n    electrode_no: 7\n"
      "    voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]\n"
      "  output_electrodes: {electrode_no: 1, amplification: [3.5], clipping_value: null}\n");
  at::manual_seed(1);
  Processor processor(simulation(), info);
  for (auto& parameter : processor->parameters()) parameter.set_requires_grad(false);
  return processor;
}

void freeze(Processor& processor) {
  for (auto& parameter : processor->parameters()) parameter.set_requires_grad(false);
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double scale = 1e-5) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor tolerance = scale * at::clamp_min(expected.abs(), 1.0);
  EXPECT_LE(((actual - expected).abs() - tolerance).max().item<double>(), 0.0)
      << "max |Δ| = " << (actual - expected).abs().max().item<double>();
}

// Outputs and gradients of the fused path and of Processor::forward on the same points
// (more than one chunk, and a ragged last chunk), with the same noise draw.
void expect_same_as_autograd(Processor& processor, const at::Tensor& points) {
  const at::Tensor weights = at::randn({points.size(0), 1});
  const at::Tensor a = points.clone().requires_grad_(true);
  const at::Tensor b = points.clone().requires_grad_(true);
  ASSERT_TRUE(fusable_surrogate(*processor, a));
  at::manual_seed(3);
  const at::Tensor fused = fused_surrogate_forward(*processor, a);
  (fused * weights).sum().backward();
  at::manual_seed(3);
  const at::Tensor plain = processor->forward(b);
  (plain * weights).sum().backward();
  expect_close(fused, plain);
  expect_close(a.grad(), b.grad(), 1e-5);
}

TEST(FusedSurrogate, MatchesAutogradThroughAReluSurrogate) {
  Processor processor = load_processor("seed3");
  freeze(processor);
  expect_same_as_autograd(processor, at::rand({1000, 7}) * 1.6 - 1.1);
}

TEST(FusedSurrogate, ClippingStopsTheGradientAndNoiseIsTheSameDraw) {
  Processor processor = load_processor("seed3");
  freeze(processor);
  const at::Tensor points = at::rand({700, 7}) * 1.6 - 1.1;
  const at::Tensor outputs = processor->forward(points);
  const double middle = outputs.median().item<double>();
  // About half of the points clip (their gradient is zero), and the noise is on.
  processor->surrogate()->set_output_clipping(std::make_pair(middle, middle + 1e3));
  processor->surrogate()->set_noise_std(0.5);
  expect_same_as_autograd(processor, points);
}

TEST(FusedSurrogate, HardTanhAndRelu) {
  for (const std::string activation : {"relu", "hard-tanh"}) {
    Processor processor = random_processor(activation);
    expect_same_as_autograd(processor, at::rand({300, 7}) * 3 - 1.5);
  }
}

TEST(FusedSurrogate, AppliesOnlyWhereItIsExact) {
  const at::Tensor x = at::rand({10, 7}).requires_grad_(true);
  Processor relu = load_processor("seed3");
  EXPECT_FALSE(fusable_surrogate(*relu, x));  // weights not frozen: their gradients are wanted
  freeze(relu);
  EXPECT_TRUE(fusable_surrogate(*relu, x));
  EXPECT_FALSE(fusable_surrogate(*relu, x.detach()));  // nothing to differentiate
  {
    at::NoGradGuard no_grad;
    EXPECT_FALSE(fusable_surrogate(*relu, x));
  }
  EXPECT_FALSE(fusable_surrogate(*relu, x.view({2, 5, 7})));
  Processor elu = load_processor("seed1");  // smooth activations keep autograd
  freeze(elu);
  EXPECT_FALSE(fusable_surrogate(*elu, x));
  Processor plateaus = load_processor("seed3", simulation(3));
  freeze(plateaus);
  EXPECT_FALSE(fusable_surrogate(*plateaus, x));
  Processor tanh = random_processor("tanh");
  EXPECT_FALSE(fusable_surrogate(*tanh, x));
  EXPECT_THROW(fused_surrogate_forward(*tanh, x), ArgumentError);

  at::Tensor bad = at::rand({4, 7});
  bad[2][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(fused_surrogate_forward(*relu, bad.requires_grad_(true)), ArgumentError);
}

}  // namespace
}  // namespace brains::modules
