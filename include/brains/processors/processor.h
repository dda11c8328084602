// Processor: one public API over a surrogate simulation or a hardware driver (brains-py
// spec §1). `processor_type` picks the backend:
//   simulation        SurrogateModel, differentiable;
//   simulation_debug  SurrogateModel behind the hardware path (waveform, safety, mask);
// further hardware types (virtual, cdaq_to_cdaq, cdaq_to_nidaq) plug in as Drivers.
// Inputs are points (B, E) in volts; outputs are currents (B, n_out) in nA, or
// (B·P, n_out) when plateaus are not averaged. Grouped inputs (B, nodes, E), as DNPU layers
// send, give (B, nodes, n_out) or (B·P, nodes, n_out); on hardware the nodes are measured
// one after the other.
//
// Example:
//   auto file = SurrogateFile::load("training_data.pt");
//   Processor processor(Config::load("processor.yaml"), file.info, file.model_state_dict);
//   at::Tensor currents = processor->forward(voltages);
//
// Raises: ConfigError (unknown processor_type, listing the valid ones; bad effects),
//         FormatError (state dict that does not fit the model), ArgumentError (input of
//         the wrong width, NaN or Inf inputs), SafetyError (hardware path).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "brains/core/config.h"
#include "brains/io/py_value.h"
#include "brains/processors/electrode_info.h"
#include "brains/processors/hardware_processor.h"
#include "brains/processors/surrogate_model.h"
#include "brains/processors/waveform.h"

namespace brains::processors {

class ProcessorImpl : public torch::nn::Module {
 public:
  // `info` holds model_structure and electrode_info (required for the surrogate types);
  // `state_dict` the surrogate weights (random initialisation when absent).
  ProcessorImpl(const Config& configs, const std::optional<YAML::Node>& info = std::nullopt,
                const std::optional<io::PyValue>& state_dict = std::nullopt,
                bool average_plateaus = true);

  at::Tensor forward(const at::Tensor& x);
  // A ready-made waveform (L, E) volts -> currents (L, n_out) nA through the hardware path
  // (safety check, then the driver), in the input's dtype: for callers that build their own
  // ramps, such as the surrogate-model sampler. ArgumentError for processor_type
  // simulation, which has no waveform path.
  at::Tensor forward_waveform(const at::Tensor& waveform);
  // Repeats each target row P times when outputs are not averaged over plateaus.
  at::Tensor format_targets(const at::Tensor& targets) const;

  // Rebuilds the backend from new configs (keeps average_plateaus), e.g. simulation ->
  // hardware to validate trained control voltages. Without `info` or `state_dict`, the
  // ones given last are used, so a surrogate keeps its weights across swaps.
  void swap(const Config& configs, const std::optional<YAML::Node>& info = std::nullopt,
            const std::optional<io::PyValue>& state_dict = std::nullopt);

  at::Tensor voltage_ranges() const;
  at::Tensor clipping_value() const;
  std::int64_t activation_electrode_count() const;
  std::int64_t readout_electrode_count() const;
  bool is_hardware() const;
  const std::string& processor_type() const noexcept { return processor_type_; }
  const Waveform& waveform() const noexcept { return waveform_; }
  bool average_plateaus() const noexcept { return average_plateaus_; }
  const ElectrodeInfo& electrode_info() const noexcept { return electrode_info_; }
  // The info the processor was built from (model_structure, electrode_info), if any.
  const std::optional<YAML::Node>& info() const noexcept { return info_; }
  // The surrogate behind a simulation processor; null for hardware types.
  SurrogateModel surrogate() const { return surrogate_; }
  void close();

 private:
  void load(const Config& configs, const std::optional<YAML::Node>& info,
            const std::optional<io::PyValue>& state_dict);
  // A Driver-backed type (driver_factory.h): electrode counts and ranges come from the driver.
  void load_hardware(const std::string& type, const Config& configs);

  std::string processor_type_;
  Waveform waveform_{1, 0};
  bool average_plateaus_;
  ElectrodeInfo electrode_info_;
  std::optional<YAML::Node> info_;
  std::optional<io::PyValue> state_dict_;
  SurrogateModel surrogate_{nullptr};       // simulation: registered as "processor"
  HardwareProcessor hardware_{nullptr};     // hardware path: registered as "processor"
};
TORCH_MODULE(Processor);

// The processor types Processor accepts, for error messages and --help.
const std::vector<std::string>& processor_types();

}  // namespace brains::processors
