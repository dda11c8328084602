// A small surrogate device for algorithm and task tests, trained in the test process on a
// known nonlinear function, so a test can check that an algorithm finds what the "device"
// can do without depending on a stored model file.
//
// The device has 7 activation electrodes (ranges [-1.2, 0.6] V ×5, [-0.7, 0.3] V ×2) and one
// output; its current is
//   I(v) = 10 nA · f(v),   f(v) = Σ_k c_k · tanh(a_k · v + b_k),   k < 12,
// with a, b, c drawn once from a fixed seed: a sum of tanh ridges, rich enough that the
// controls can shape boolean gates on any two inputs. A 7 → [32, 32] → 1 tanh network is
// fitted to f by full-batch Adam (under a second; cached in the temp directory) to an rms
// error of about 11 % of the current's spread: a device that behaves like f, not a copy.
//
// Example:
//   processors::Processor processor = testing::fixture_processor();
//   modules::DNPU dnpu(processor, modules::DNPUOptions({{3, 4}}).seed(1));
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <exception>
#include <filesystem>
#include <string>

#include "brains/core/config.h"
#include "brains/io/py_value.h"
#include "brains/io/torch_file.h"
#include "brains/processors/neural_network_model.h"
#include "brains/processors/processor.h"
#include "brains/processors/state_dict.h"

namespace brains::testing {

// (7, 2): [-1.2, 0.6] for electrodes 0–4, [-0.7, 0.3] for 5–6.
inline at::Tensor fixture_voltage_ranges() {
  return at::tensor({-1.2f, 0.6f, -1.2f, 0.6f, -1.2f, 0.6f, -1.2f, 0.6f, -1.2f, 0.6f, -0.7f, 0.3f,
                     -0.7f, 0.3f})
      .view({7, 2});
}

inline constexpr double kFixtureAmplification = 10.0;

// The ground truth f (without the amplification): (N, 7) volts -> (N, 1).
struct FixtureFunction {
  at::Tensor a;  // (K, 7)
  at::Tensor b;  // (K)
  at::Tensor c;  // (K)
  at::Tensor operator()(const at::Tensor& v) const {
    return at::tanh(at::matmul(v, a.t()) + b).matmul(c).unsqueeze(1);
  }
};

inline const FixtureFunction& fixture_function() {
  static const FixtureFunction f = [] {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(2);
    constexpr std::int64_t ridges = 12;
    FixtureFunction out;
    // Slopes of ~1.5 /V bend each ridge within the ranges while keeping the landscape smooth
    // enough for gradient descent (steeper ones leave GD in local minima); c keeps |f| ~ 1.
    out.a = at::randn({ridges, 7}, generator) * 1.5;
    out.b = at::randn({ridges}, generator);
    out.c = at::randn({ridges}, generator) / std::sqrt(static_cast<double>(ridges)) * 1.5;
    return out;
  }();
  return f;
}

inline YAML::Node fixture_info() {
  return YAML::Load(R"(
model_structure:
  D_in: 7
  D_out: 1
  hidden_sizes: [32, 32]
  activation: tanh
electrode_info:
  electrode_no: 8
  activation_electrodes:
    electrode_no: 7
    voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]
  output_electrodes:
    electrode_no: 1
    amplification: [10.0]
    clipping_value: [-400.0, 400.0]
)");
}

// Uniform voltages within the fixture's ranges, (n, 7).
inline at::Tensor fixture_voltages(std::int64_t n, at::Generator& generator) {
  const at::Tensor ranges = fixture_voltage_ranges();
  const at::Tensor low = ranges.select(1, 0), high = ranges.select(1, 1);
  return low + (high - low) * at::rand({n, 7}, generator);
}

// Trains the fixture network and returns its state dict (raw_model.*).
inline io::PyValue train_fixture_state_dict() {
  at::AutoGradMode grad_mode(true);  // the first caller may be under a NoGradGuard
  processors::ModelStructure structure;
  structure.hidden_sizes = {32, 32};
  structure.activation = "tanh";
  processors::NeuralNetworkModel network(structure);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
  {
    at::NoGradGuard no_grad;  // seeded Kaiming-uniform-like initialisation
    for (auto& parameter : network->parameters()) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(
                                     parameter.dim() == 2 ? parameter.size(1) : parameter.size(0)));
      parameter.copy_((at::rand(parameter.sizes(), generator) * 2 - 1) * bound);
    }
  }
  const at::Tensor x = fixture_voltages(2048, generator);
  const at::Tensor y = fixture_function()(x);
  torch::optim::Adam adam(network->parameters(), torch::optim::AdamOptions(0.01));
  for (int step = 0; step < 600; ++step) {
    if (step == 400)
      for (auto& group : adam.param_groups()) group.options().set_lr(0.003);
    adam.zero_grad();
    at::mse_loss(network->forward(x), y).backward();
    adam.step();
  }
  return processors::state_dict_value(*network);
}

// The trained state dict, once per process. Every test process would otherwise spend most
// of its time training, so the result is also kept in the temp directory (written
// atomically, so parallel tests share it); bump the version when the function or the
// training changes.
inline const io::PyValue& fixture_state_dict() {
  static const io::PyValue state = [] {
    const auto cache = std::filesystem::temp_directory_path() / "brains-fixture-surrogate-v1.pt";
    try {
      if (std::filesystem::exists(cache)) return io::load_torch_file(cache);
    } catch (const std::exception&) {  // unreadable: train again
    }
    io::PyValue trained = train_fixture_state_dict();
    try {
      io::save_torch_file(cache, trained);
    } catch (const std::exception&) {  // a cache only
    }
    return trained;
  }();
  return state;
}

// A simulation Processor over the trained fixture; `electrode_effects` is YAML for the
// processor config's electrode_effects section (e.g. "output_clipping: [-5, 5]").
inline processors::Processor fixture_processor(int plateau_length = 1, int slope_length = 0,
                                               const std::string& electrode_effects = "") {
  std::string text =
      "processor_type: simulation\nwaveform:\n  plateau_length: " + std::to_string(plateau_length) +
      "\n  slope_length: " + std::to_string(slope_length) + "\n";
  if (!electrode_effects.empty()) text += "electrode_effects: {" + electrode_effects + "}\n";
  return processors::Processor(Config::parse(text), fixture_info(), fixture_state_dict());
}

// brains-py's boolean-task square (points 0–3 of boolean/data.py), for an input transform
// from [-1, 1]: (4, 2).
inline at::Tensor boolean_square() {
  return at::tensor({-0.5f, -0.5f, -0.5f, 1.0f, 1.0f, -0.5f, 1.0f, 1.0f}).view({4, 2});
}

}  // namespace brains::testing
