// A custom LibTorch model with two DNPU layers and a linear read-out, trained by gradient
// descent on the surrogate for a few steps to separate two noisy clusters.
//
//   custom_model training_data.pt [steps]
//
// Layer 1 time-multiplexes three DNPUs on the two input features; layer 2 is one DNPU
// that takes the three currents of layer 1 (squashed into [-1, 1]); a Linear(1, 1) reads
// out a logit. Only the control voltages and the read-out are trained.
#include <brains/modules/dnpu.h>
#include <brains/processors/processor.h>
#include <brains/processors/surrogate_file.h>

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include <iostream>
#include <string>

namespace {

struct CustomModelImpl : torch::nn::Module {
  CustomModelImpl(const brains::processors::SurrogateFile& surrogate) {
    const brains::Config configs = brains::Config::parse(
        "processor_type: simulation\nwaveform: {plateau_length: 1, slope_length: 0}\n");
    // One processor per layer: each layer owns its (frozen) surrogate.
    brains::processors::Processor first(configs, surrogate.info, surrogate.model_state_dict);
    brains::processors::Processor second(configs, surrogate.info, surrogate.model_state_dict);
    hidden = register_module(
        "hidden", brains::modules::DNPU(first, brains::modules::DNPUOptions({{3, 4}, {3, 4}, {3, 4}}).seed(1)));
    output = register_module(
        "output", brains::modules::DNPU(second, brains::modules::DNPUOptions({{1, 3, 4}}).seed(2)));
    readout = register_module("readout", torch::nn::Linear(1, 1));
    hidden->add_input_transform({-1.0, 1.0});
    output->add_input_transform({-1.0, 1.0});
  }

  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor h = hidden->forward(x.repeat({1, 3}));        // (B, 3) nA
    // Standardised per node over the batch, then squashed into the next layer's [-1, 1].
    const at::Tensor squashed = at::tanh((h - h.mean(0)) / (h.std(0) + 1e-6));
    return readout->forward(output->forward(squashed));            // (B, 1) logit
  }

  // Keeps control voltages inside their ranges after each optimiser step.
  void constrain() {
    hidden->constraint_control_voltages();
    output->constraint_control_voltages();
  }

  brains::modules::DNPU hidden{nullptr};
  brains::modules::DNPU output{nullptr};
  torch::nn::Linear readout{nullptr};
};
TORCH_MODULE(CustomModel);

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: custom_model training_data.pt [steps]\n";
    return 2;
  }
  try {
    const auto surrogate = brains::processors::SurrogateFile::load(argv[1]);
    const int steps = argc > 2 ? std::stoi(argv[2]) : 20;
    at::manual_seed(0);
    // Two clusters around (-0.5, -0.5) and (0.5, 0.5).
    const at::Tensor labels = (at::rand({256, 1}) > 0.5).to(at::kFloat);
    const at::Tensor inputs = (labels * 2 - 1) * 0.5 + 0.15 * at::randn({256, 2});

    CustomModel model(surrogate);
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(0.02));
    namespace F = torch::nn::functional;
    for (int step = 0; step <= steps; ++step) {
      optimizer.zero_grad();
      const at::Tensor loss = F::binary_cross_entropy_with_logits(model->forward(inputs), labels);
      if (step == 0 || step == steps) {
        const at::Tensor correct = ((model->forward(inputs) > 0).to(at::kFloat) == labels).to(at::kFloat);
        std::cout << "step " << step << " loss " << loss.item<double>() << " accuracy "
                  << correct.mean().item<double>() << "\n";
      }
      if (step == steps) break;
      loss.backward();
      optimizer.step();
      model->constrain();
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "custom_model: error: " << e.what() << "\n";
    return 1;
  }
}
