// DNPUConv2d: parity with brains-py, a nested-loop definition, strict clipping (which
// brains-py ignored, §15.10), gradients, control voltages and argument checks.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/modules/dnpu_conv2d.h"
#include "brains/processors/surrogate_file.h"
#include "support/temp_dir.h"

namespace brains::modules {
namespace {

using ::testing::HasSubstr;
using processors::Processor;
using processors::SurrogateFile;
using testing::reference_dir;

const IndexLists kThreeByThree{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}};

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

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ArgumentError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;  // one line
    return message;
  }
  return "<accepted>";
}

class DNPUConv2dParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(DNPUConv2dParity, ForwardMatchesBrainsPy) {
  const auto& [seed, pass] = GetParam();
  const auto data = io::read_npz(reference_dir() / "parity" / seed / "dnpu_conv2d_forward.npz");
  const Config parameters = parity_case(seed, "dnpu_conv2d_forward");
  ASSERT_EQ(parameters.get<std::vector<double>>("input_transform"), (std::vector<double>{0, 1}));
  DNPUConv2d conv(load_processor(seed),
                  DNPUConv2dOptions(parameters.get<IndexLists>("data_input_indices"),
                                    parameters.get<std::int64_t>("in_channels"),
                                    parameters.get<std::int64_t>("out_channels"),
                                    parameters.get<std::int64_t>("kernel_size"))
                      .stride(parameters.get<std::int64_t>("stride"))
                      .padding(parameters.get<std::int64_t>("padding"))
                      .forward_pass(pass));
  conv->add_input_transform({0.0, 1.0});
  conv->set_control_voltages(data.tensor("control_voltages"));
  const at::Tensor inputs = data.tensor("inputs");
  expect_close(conv->forward(inputs), data.tensor("outputs"));
  at::NoGradGuard no_grad;  // the inference path of the surrogate gives the same
  expect_close(conv->forward(inputs), data.tensor("outputs"));
}

INSTANTIATE_TEST_SUITE_P(SeedsAndPasses, DNPUConv2dParity,
                         ::testing::Combine(::testing::Values("seed1", "seed2", "seed3"),
                                            ::testing::Values("vec", "for")));

// out[b, o, y, x] = Σ_i Σ_n DNPU_{i,o,n}(patch; cv[i, o, n]), one processor call per device
// and position, electrode vectors built by hand; inputs on [0, 1], strictly clipped.
at::Tensor nested_loop_conv(Processor& processor, const IndexLists& indices, const at::Tensor& cv,
                            const at::Tensor& x, std::int64_t k, std::int64_t stride, std::int64_t pad) {
  const at::Tensor ranges = processor->voltage_ranges();
  const std::int64_t electrodes = ranges.size(0);
  const std::int64_t batch = x.size(0), in = x.size(1), height = x.size(2), width = x.size(3);
  const std::int64_t out = cv.size(1);
  const std::int64_t rows = (height + 2 * pad - k) / stride + 1;
  const std::int64_t cols = (width + 2 * pad - k) / stride + 1;
  const auto nodes = static_cast<std::int64_t>(indices.size());
  const auto inputs = static_cast<std::int64_t>(indices.front().size());
  at::Tensor y = at::zeros({batch, out, rows, cols});
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          double sum = 0;
          for (std::int64_t i = 0; i < in; ++i)
            for (std::int64_t n = 0; n < nodes; ++n) {
              at::Tensor v = at::empty({1, electrodes});
              std::set<std::int64_t> data_electrodes;
              for (std::int64_t j = 0; j < inputs; ++j) {
                const std::int64_t pixel = n * inputs + j;  // row-major within the kernel
                const std::int64_t py = r * stride - pad + pixel / k;
                const std::int64_t px = c * stride - pad + pixel % k;
                const bool inside = py >= 0 && py < height && px >= 0 && px < width;
                const double raw = inside ? x[b][i][py][px].item<double>() : 0.0;
                const double clipped = std::min(std::max(raw, 0.0), 1.0);
                const std::int64_t e = indices[n][j];
                const double low = ranges[e][0].item<double>(), high = ranges[e][1].item<double>();
                v[0][e] = low + (high - low) * clipped;
                data_electrodes.insert(e);
              }
              std::int64_t control = 0;
              for (std::int64_t e = 0; e < electrodes; ++e)
                if (!data_electrodes.count(e)) v[0][e] = cv[i][o][n][control++];
              sum += processor->forward(v).item<double>();
            }
          y[b][o][r][c] = sum;
        }
  return y;
}

TEST(DNPUConv2d, MatchesANestedLoopDefinition) {
  // Distinct electrodes per node, stride 2, padding 1, a non-square image and inputs
  // partly outside the transform's range.
  const IndexLists indices{{0, 2, 5}, {1, 3, 4}, {2, 3, 6}};
  at::manual_seed(5);
  const at::Tensor x = at::rand({2, 2, 7, 5}) * 1.4 - 0.2;
  for (const std::string pass : {"vec", "for"}) {
    DNPUConv2d conv(load_processor("seed1"),
                    DNPUConv2dOptions(indices, 2, 2, 3).stride(2).padding(1).forward_pass(pass).seed(17));
    conv->add_input_transform({0.0, 1.0});
    at::NoGradGuard no_grad;
    const at::Tensor y = conv->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 2, 4, 3}));
    expect_close(y, nested_loop_conv(conv->processor(), indices, conv->control_voltages(), x, 3, 2, 1));
  }
}

TEST(DNPUConv2d, TwoByTwoKernelOnTwoNodes) {
  const IndexLists indices{{0, 6}, {4, 5}};
  const at::Tensor x = at::rand({3, 1, 4, 6});
  DNPUConv2d conv(load_processor("seed2"), DNPUConv2dOptions(indices, 1, 3, 2).seed(2));
  conv->add_input_transform({0.0, 1.0});
  at::NoGradGuard no_grad;
  const at::Tensor y = conv->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{3, 3, 3, 5}));
  expect_close(y, nested_loop_conv(conv->processor(), indices, conv->control_voltages(), x, 2, 1, 0));
}

TEST(DNPUConv2d, StrictClippingIsHonoured) {
  // brains-py's conv ignored strict (§15.10): out-of-range pixels drove the electrodes
  // beyond their voltage ranges.
  DNPUConv2d conv(load_processor("seed3"), DNPUConv2dOptions(kThreeByThree, 2, 2, 3).padding(1).seed(4));
  conv->add_input_transform({0.0, 1.0});
  const at::Tensor x = at::rand({2, 2, 6, 6}) * 3 - 1;
  at::NoGradGuard no_grad;
  expect_close(conv->forward(x), conv->forward(at::clamp(x, 0, 1)));
  conv->add_input_transform({0.0, 1.0}, /*strict=*/false);
  EXPECT_GT((conv->forward(x) - conv->forward(at::clamp(x, 0, 1))).abs().max().item<double>(), 1e-3);
}

TEST(DNPUConv2d, VecGradientsMatchThePerDeviceAutogradPath) {
  // seed3's relu surrogate takes the fused path (fused_surrogate.h), seed1's elu autograd.
  for (const std::string seed : {"seed3", "seed1"}) {
    at::manual_seed(9);
    const at::Tensor x = at::rand({3, 2, 6, 5}) * 1.2 - 0.1;
    const at::Tensor weights = at::randn({3, 3, 3, 3});  // (B, C_out, H_out, W_out)
    std::vector<at::Tensor> grads_cv, grads_x;
    for (const std::string pass : {"vec", "for", "vec-unfused"}) {
      DNPUConv2d conv(load_processor(seed), DNPUConv2dOptions(kThreeByThree, 2, 3, 3)
                                                .stride(2)
                                                .padding(1)
                                                .forward_pass(pass.substr(0, 3))
                                                .fused_surrogate(pass == "vec")
                                                .seed(6));
      conv->add_input_transform({0.0, 1.0}, /*strict=*/false);
      const at::Tensor input = x.clone().requires_grad_(true);
      (conv->forward(input) * weights).sum().backward();
      grads_cv.push_back(conv->control_voltages_parameter().grad());
      grads_x.push_back(input.grad());
      for (const auto& parameter : conv->processor()->parameters())
        EXPECT_FALSE(parameter.grad().defined());  // the surrogate stays frozen
    }
    EXPECT_EQ(grads_cv[0].sizes(), (std::vector<std::int64_t>{2, 3, 3, 4}));
    EXPECT_GT(grads_cv[0].abs().min().item<double>(), 0.0) << seed;  // every device learns
    for (const std::size_t other : {1, 2}) {
      expect_close(grads_cv[0], grads_cv[other], 1e-5);
      expect_close(grads_x[0], grads_x[other], 1e-5);
    }
  }
}

TEST(DNPUConv2d, HardwarePathMatchesSimulation) {
  // simulation_debug: the surrogate behind the hardware path (waveform, safety check).
  const auto file = SurrogateFile::load(reference_dir() / "parity/seed3/surrogate.pt");
  const Config debug = Config::parse(
      "processor_type: simulation_debug\nwaveform:\n  plateau_length: 3\n  slope_length: 2\n");
  DNPUConv2d soft(load_processor("seed3"), DNPUConv2dOptions(kThreeByThree, 1, 2, 3).padding(1).seed(3));
  DNPUConv2d hard(Processor(debug, file.info, file.model_state_dict),
                  DNPUConv2dOptions(kThreeByThree, 1, 2, 3).padding(1).seed(3));
  soft->add_input_transform({0.0, 1.0});
  hard->add_input_transform({0.0, 1.0});
  const at::Tensor x = at::rand({2, 1, 4, 5});
  at::NoGradGuard no_grad;
  expect_close(hard->forward(x), soft->forward(x));

  // Without plateau averaging each point comes back P times: no convolution output.
  DNPUConv2d raw(Processor(debug, file.info, file.model_state_dict, /*average_plateaus=*/false),
                 DNPUConv2dOptions(kThreeByThree, 1, 2, 3));
  raw->add_input_transform({0.0, 1.0});
  EXPECT_THAT(error_of([&] { raw->forward(x); }), HasSubstr("needs plateau-averaged outputs"));
}

TEST(DNPUConv2d, ControlVoltagesOnePerDeviceSeededAndInRange) {
  DNPUConv2d a(load_processor("seed1"), DNPUConv2dOptions(kThreeByThree, 2, 3, 3).seed(11));
  DNPUConv2d b(load_processor("seed1"), DNPUConv2dOptions(kThreeByThree, 2, 3, 3).seed(11));
  const at::Tensor cv = a->control_voltages();
  EXPECT_EQ(cv.sizes(), (std::vector<std::int64_t>{2, 3, 3, 4}));
  EXPECT_TRUE(at::equal(cv, b->control_voltages()));
  EXPECT_FALSE(at::equal(cv[0][0], cv[1][2]));  // devices are sampled independently
  const at::Tensor ranges = a->control_ranges();  // (nodes, n_ctrl, 2)
  EXPECT_TRUE((cv >= ranges.select(-1, 0)).all().item<bool>());
  EXPECT_TRUE((cv <= ranges.select(-1, 1)).all().item<bool>());
  EXPECT_EQ(a->regularizer().item<float>(), 0.0f);

  // The regularizer and the clip constraint act on every device.
  at::Tensor outside = cv.clone();
  outside[1][2][0][0] = ranges[0][0][1] + 0.5;
  outside[0][1][2][3] = ranges[2][3][0] - 0.25;
  a->set_control_voltages(outside);
  EXPECT_NEAR(a->regularizer().item<double>(), 0.75, 1e-6);
  a->constraint_control_voltages();
  EXPECT_NEAR(a->regularizer().item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(a->control_voltages()[1][2][0][0].item<double>(), ranges[0][0][1].item<double>(), 1e-7);
  a->reset_control_voltages(11);
  EXPECT_TRUE(at::equal(a->control_voltages(), cv));
  EXPECT_THROW(a->set_control_voltages(at::zeros({3, 4})), ArgumentError);
}

TEST(DNPUConv2d, OutputSizePerDimension) {
  DNPUConv2d conv(load_processor("seed2"), DNPUConv2dOptions(kThreeByThree, 1, 2, 3).stride(2).padding(2));
  conv->add_input_transform({0.0, 1.0});
  at::NoGradGuard no_grad;
  EXPECT_EQ(conv->forward(at::rand({1, 1, 9, 4})).sizes(), (std::vector<std::int64_t>{1, 2, 6, 3}));
  EXPECT_EQ(conv->output_size(9), 6);
  EXPECT_EQ(conv->output_size(4), 3);
}

TEST(DNPUConv2d, RejectsBadSizesAndInputs) {
  const auto build = [](DNPUConv2dOptions options) {
    return [options] { DNPUConv2d(load_processor("seed1"), options); };
  };
  EXPECT_EQ(error_of(build(DNPUConv2dOptions({{2, 3, 4}, {2, 3, 4}}, 1, 1, 3))),
            "cannot build DNPUConv2d: data_input_indices hold 2 nodes × 3 inputs = 6 pixels, a 3×3 kernel has 9");
  EXPECT_EQ(error_of(build(DNPUConv2dOptions(kThreeByThree, 1, 1, 3).stride(0))),
            "cannot build DNPUConv2d: stride must be > 0, got 0");
  EXPECT_EQ(error_of(build(DNPUConv2dOptions(kThreeByThree, 1, 1, 3).padding(-1))),
            "cannot build DNPUConv2d: padding must be >= 0, got -1");
  EXPECT_EQ(error_of(build(DNPUConv2dOptions(kThreeByThree, 0, 1, 3))),
            "cannot build DNPUConv2d: in_channels must be > 0, got 0");
  EXPECT_EQ(error_of(build(DNPUConv2dOptions(kThreeByThree, 1, -2, 3))),
            "cannot build DNPUConv2d: out_channels must be > 0, got -2");
  EXPECT_EQ(error_of(build(DNPUConv2dOptions(kThreeByThree, 1, 1, 0))),
            "cannot build DNPUConv2d: kernel_size must be > 0, got 0");
  EXPECT_THAT(error_of(build(DNPUConv2dOptions({{2, 3, 9}, {2, 3, 4}, {2, 3, 4}}, 1, 1, 3))),
              HasSubstr("electrode 9, outside 0..6"));

  DNPUConv2d conv(load_processor("seed1"), DNPUConv2dOptions(kThreeByThree, 2, 1, 3));
  EXPECT_EQ(error_of([&] { conv->forward(at::rand({4, 1, 9, 9})); }),
            "cannot run DNPUConv2d: input must have shape (batch, 2, height, width), got 4×1×9×9");
  EXPECT_EQ(error_of([&] { conv->forward(at::rand({2, 9, 9})); }),
            "cannot run DNPUConv2d: input must have shape (batch, 2, height, width), got 2×9×9");
  EXPECT_EQ(error_of([&] { conv->forward(at::rand({2, 2, 9, 2})); }),
            "cannot run DNPUConv2d: a 3×3 kernel does not fit a 9×2 image with padding 0");
}

TEST(DNPUConv2d, PrettyPrint) {
  DNPUConv2d conv(load_processor("seed1"), DNPUConv2dOptions(kThreeByThree, 1, 6, 3));
  std::ostringstream plain;
  conv->pretty_print(plain);
  EXPECT_EQ(plain.str(),
            "brains::DNPUConv2d(in=1, out=6, kernel=3, stride=1, padding=0, nodes=3, "
            "inputs=[[2,3,4],[2,3,4],[2,3,4]])");
  conv->add_input_transform({0.0, 1.0});
  std::ostringstream transformed;
  conv->pretty_print(transformed);
  EXPECT_THAT(transformed.str(), HasSubstr("inputs=[[2,3,4],[2,3,4],[2,3,4]], transform=[0,1], strict)"));
}

}  // namespace
}  // namespace brains::modules
