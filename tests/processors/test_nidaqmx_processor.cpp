// The same device behind simulation_debug and behind both NI-DAQmx setups: the test build
// of the library runs the fixture surrogate's network (in float64, from its weights), so
// currents and a genetic-algorithm search must agree with the simulation_debug path up to
// float32 rounding.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iomanip>

#include "brains/processors/neural_network_model.h"
#include "brains/processors/nidaqmx/driver.h"
#include "brains/processors/processor.h"
#include "brains/processors/state_dict.h"
#include "brains/tasks/boolean.h"
#include "brains/tasks/boolean_data.h"
#include "fake_nidaqmx/control.h"
#include "support/fixture_surrogate.h"

namespace brains::processors::nidaqmx {
namespace {

using testing::FakeNidaqmx;

// The fixture network in the fake's mlp format, scaled to nA by the fixture amplification.
std::string write_fixture_model(const testing::TempDir& dir) {
  ModelStructure structure;
  structure.hidden_sizes = {32, 32};
  structure.activation = "tanh";
  NeuralNetworkModel network(structure);
  load_state_dict(*network, testing::fixture_state_dict(), "model_state_dict");
  const auto parameters = network->named_parameters();
  std::ofstream out(dir / "fixture.mlp");
  out << std::setprecision(9) << "mlp tanh " << parameters.size() / 2 << "\n";
  for (std::size_t i = 0; i < parameters.size(); i += 2) {
    const at::Tensor weight = parameters[i].value().to(at::kDouble).contiguous();
    const at::Tensor bias = parameters[i + 1].value().to(at::kDouble).contiguous();
    out << weight.size(1) << " " << weight.size(0) << "\n";
    for (std::int64_t k = 0; k < weight.numel(); ++k) out << weight.data_ptr<double>()[k] << " ";
    out << "\n";
    for (std::int64_t k = 0; k < bias.numel(); ++k) out << bias.data_ptr<double>()[k] << " ";
    out << "\n";
  }
  out << "scale " << testing::kFixtureAmplification << "\n";
  return (dir / "fixture.mlp").string();
}

std::string instrument(const std::string& type) { return type == "cdaq_to_cdaq" ? "cDAQ1Mod3" : "Dev1"; }

void wire_fixture(FakeNidaqmx& fake, const std::string& type) {
  const std::string model = write_fixture_model(fake.dir());
  std::string line = "dnpu ao=";
  for (int e = 0; e < 7; ++e) line += instrument(type) + "/ao" + std::to_string(e) + (e < 6 ? "," : "");
  line += " ai=cDAQ1Mod4/ai0 gain=28.5 inverting=1 model=mlp:" + model + "\nloop ao=Dev1/ao7 ai=cDAQ1Mod4/ai7\n";
  fake.wire(line);
}

Config hardware_config(const std::string& type, int plateau, int slope) {
  return Config::parse(
      "processor_type: " + type + "\nwaveform: {plateau_length: " + std::to_string(plateau) +
      ", slope_length: " + std::to_string(slope) +
      "}\ndriver:\n  amplification: [28.5]\n  inverted_output: true\n  instruments_setup:\n"
      "    trigger_source: cDAQ1\n    activation_sampling_frequency: 1000\n    readout_sampling_frequency: 2000\n"
      "    activation_instrument: " + instrument(type) + "\n    activation_channels: [0, 1, 2, 3, 4, 5, 6]\n"
      "    activation_voltage_ranges: [[-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-1.2, 0.6], [-0.7, 0.3], [-0.7, 0.3]]\n"
      "    readout_instrument: cDAQ1Mod4\n    readout_channels: [0]\n");
}

Processor simulation_debug(int plateau, int slope) {
  return Processor(Config::parse("processor_type: simulation_debug\nwaveform: {plateau_length: " +
                                 std::to_string(plateau) + ", slope_length: " + std::to_string(slope) + "}\n"),
                   testing::fixture_info(), testing::fixture_state_dict());
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor tolerance = 1e-4 * at::clamp_min(expected.abs(), 1.0);
  EXPECT_LE(((actual - expected).abs() - tolerance).max().item<double>(), 0.0)
      << "max |Δ| = " << (actual - expected).abs().max().item<double>();
}

class NidaqmxSameDevice : public ::testing::TestWithParam<std::string> {};

TEST_P(NidaqmxSameDevice, CurrentsMatchSimulationDebug) {
  FakeNidaqmx fake;
  wire_fixture(fake, GetParam());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor points = testing::fixture_voltages(60, generator);
  Processor reference = simulation_debug(4, 3);
  Processor hardware(hardware_config(GetParam(), 4, 3));
  const at::Tensor expected = reference->forward(points);
  EXPECT_GT(expected.std().item<double>(), 1.0);  // a device that does something
  expect_close(hardware->forward(points), expected);
  // Unaveraged plateaus too.
  Processor raw_reference(Config::parse("processor_type: simulation_debug\nwaveform: {plateau_length: 4, slope_length: 3}\n"),
                          testing::fixture_info(), testing::fixture_state_dict(), /*average_plateaus=*/false);
  Processor raw_hardware(hardware_config(GetParam(), 4, 3), std::nullopt, std::nullopt, false);
  expect_close(raw_hardware->forward(points), raw_reference->forward(points));
}

TEST_P(NidaqmxSameDevice, GeneticAlgorithmFindsTheSameGate) {
  FakeNidaqmx fake;
  wire_fixture(fake, GetParam());
  const auto options = tasks::BooleanTaskOptions::from_config(Config::parse(
      "max_attempts: 2\nseed: 5\nprocessor: {input_indices: [3, 4]}\nalgorithm:\n"
      "  optimizer: genetic\n  criterion: corrsig_fit\n  epochs: 40\n  partition: [4, 22]\n"));
  tasks::BooleanTask on_simulation(options, simulation_debug(3, 2));
  tasks::BooleanTask on_hardware(options, Processor(hardware_config(GetParam(), 3, 2)));
  const auto expected = on_simulation.find_gate(tasks::gate_by_name("XOR"), 1.0);
  const auto found = on_hardware.find_gate(tasks::gate_by_name("XOR"), 1.0);
  EXPECT_EQ(found.found, expected.found);
  EXPECT_EQ(found.attempts, expected.attempts);
  EXPECT_EQ(found.accuracy_percent, expected.accuracy_percent);
  EXPECT_TRUE(at::allclose(found.control_voltages, expected.control_voltages, 0, 1e-5))
      << found.control_voltages << expected.control_voltages;
  expect_close(found.outputs.to(at::kDouble), expected.outputs.to(at::kDouble));
  std::cout << GetParam() << ": XOR found " << found.found << " (" << found.accuracy_percent << " %) in "
            << found.seconds << " s through the NI-DAQmx path, " << expected.seconds
            << " s through simulation_debug\n";
}

INSTANTIATE_TEST_SUITE_P(Setups, NidaqmxSameDevice, ::testing::Values("cdaq_to_cdaq", "cdaq_to_nidaq"));

}  // namespace
}  // namespace brains::processors::nidaqmx
