#include "brains/processors/processor.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/processors/driver_factory.h"
#include "brains/processors/state_dict.h"
#include "brains/processors/surrogate_driver.h"

namespace brains::processors {

namespace {

bool is_surrogate_type(const std::string& type) {
  return type == "simulation" || type == "simulation_debug";
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

// Registers `module` as the single child "processor" (the name brains-py state dicts use),
// replacing the previous backend on a swap.
template <typename Holder>
void set_backend(torch::nn::Module& parent, Holder module) {
  const auto children = parent.named_children();
  if (children.contains("processor"))
    parent.replace_module("processor", module);
  else
    parent.register_module("processor", module);
}

// The NaN/Inf check of every forward call: a plain loop over contiguous float32 CPU data
// (the usual input; isfinite + all + item cost ~10 µs a call, which GA and GD pay every step).
bool all_finite(const at::Tensor& x) {
  if (x.device().is_cpu() && x.is_contiguous() && x.scalar_type() == at::kFloat) {
    const float* values = x.data_ptr<float>();
    const std::int64_t n = x.numel();
    bool finite = true;
    for (std::int64_t i = 0; i < n; ++i) finite &= std::isfinite(values[i]);
    return finite;
  }
  return at::isfinite(x).all().item<bool>();
}

}  // namespace

const std::vector<std::string>& processor_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> all{"simulation", "simulation_debug"};
    for (const auto& type : hardware_processor_types()) all.push_back(type);
    return all;
  }();
  return types;
}

ProcessorImpl::ProcessorImpl(const Config& configs, const std::optional<YAML::Node>& info,
                             const std::optional<io::PyValue>& state_dict, bool average_plateaus)
    : average_plateaus_(average_plateaus) {
  load(configs, info, state_dict);
}

void ProcessorImpl::load(const Config& configs, const std::optional<YAML::Node>& info,
                         const std::optional<io::PyValue>& state_dict) {
  const std::string type = configs.get<std::string>("processor_type");
  const auto& valid = processor_types();
  if (std::find(valid.begin(), valid.end(), type) == valid.end())
    throw ConfigError(configs.key_path("processor_type"),
                      "unknown processor type '" + type + "' (valid: " + join(valid) + ")");
  configs.warn_unknown_keys({"processor_type", "waveform", "electrode_effects", "driver"});
  waveform_ = configs.has("waveform") ? Waveform::from_config(configs.at("waveform")) : Waveform(1, 0);

  if (!is_surrogate_type(type)) {
    load_hardware(type, configs);
    return;
  }
  if (!info)
    throw ConfigError("info", "a '" + type +
                                  "' processor needs the surrogate's info (model_structure and "
                                  "electrode_info, as in a training_data.pt)");
  const Config info_config(*info, "info");
  const ModelStructure structure = ModelStructure::from_config(info_config.at("model_structure"));
  ElectrodeInfo electrode_info = ElectrodeInfo::from_config(info_config.at("electrode_info"));
  if (electrode_info.activation_electrode_no != structure.d_in)
    throw ConfigError("info.electrode_info.activation_electrodes.electrode_no",
                      "the model has D_in = " + std::to_string(structure.d_in) + " inputs but " +
                          std::to_string(electrode_info.activation_electrode_no) +
                          " activation electrodes are listed");
  SurrogateModel surrogate(structure);
  if (state_dict) load_state_dict(*surrogate->model, *state_dict, "model_state_dict");
  surrogate->set_effects(electrode_info, configs.find("electrode_effects"));

  processor_type_ = type;
  electrode_info_ = std::move(electrode_info);
  info_ = info;
  state_dict_ = state_dict;
  if (type == "simulation") {
    surrogate_ = surrogate;
    hardware_ = nullptr;
    set_backend(*this, surrogate_);
  } else {
    surrogate_ = nullptr;
    hardware_ = HardwareProcessor(std::make_shared<SurrogateDriver>(surrogate), waveform_);
    set_backend(*this, hardware_);
  }
}

void ProcessorImpl::load_hardware(const std::string& type, const Config& configs) {
  std::shared_ptr<Driver> driver = make_hardware_driver(type, configs);
  ElectrodeInfo electrode_info;
  electrode_info.activation_electrode_no = driver->activation_electrode_count();
  electrode_info.output_electrode_no = driver->readout_electrode_count();
  electrode_info.electrode_no =
      electrode_info.activation_electrode_no + electrode_info.output_electrode_no;
  electrode_info.voltage_ranges = driver->voltage_ranges();
  electrode_info.amplification.assign(electrode_info.output_electrode_no, 1.0);
  const at::Tensor clipping = driver->clipping_value().to(at::kDouble);
  electrode_info.clipping_value = std::make_pair(clipping[0].item<double>(), clipping[1].item<double>());

  if (hardware_) hardware_->close();
  processor_type_ = type;
  electrode_info_ = std::move(electrode_info);
  surrogate_ = nullptr;
  hardware_ = HardwareProcessor(std::move(driver), waveform_);
  set_backend(*this, hardware_);
}

void ProcessorImpl::swap(const Config& configs, const std::optional<YAML::Node>& info,
                         const std::optional<io::PyValue>& state_dict) {
  load(configs, info ? info : info_, state_dict ? state_dict : state_dict_);
}

at::Tensor ProcessorImpl::forward(const at::Tensor& x) {
  const std::int64_t electrodes = activation_electrode_count();
  if (x.dim() < 1 || x.size(-1) != electrodes)
    throw ArgumentError("cannot run processor: input has " +
                        std::to_string(x.dim() < 1 ? 0 : x.size(-1)) + " columns, the device has " +
                        std::to_string(electrodes) + " activation electrodes");
  if (!all_finite(x))
    throw ArgumentError("cannot run processor: input contains NaN or Inf voltages");
  at::Tensor output;
  if (surrogate_ && !waveform_.is_static() && !surrogate_->noise_std().value_or(0.0)) {
    // Without noise every sample of a plateau gives the same current: each point is computed
    // once (P times less work; the GA at plateau 80 depends on it), and the average of a
    // plateau is that current itself.
    output = surrogate_->forward(x);
    if (average_plateaus_) return output;
    // Rows repeated P times by broadcasting: repeat_interleave would start OpenMP threads
    // for every call (5 ms under load on 2 cores, against 3 µs here).
    std::vector<std::int64_t> sizes = output.sizes().vec();
    sizes.insert(sizes.begin() + 1, waveform_.plateau_length());
    std::vector<std::int64_t> rows = output.sizes().vec();
    rows[0] *= waveform_.plateau_length();
    return output.unsqueeze(1).expand(sizes).reshape(rows);
  }
  if (surrogate_) {
    output = surrogate_->forward(waveform_.is_static() ? x : waveform_.points_to_plateaus(x));
  } else if (x.dim() == 3) {
    // Nodes are measured one after the other: rows (b, node), each held for P samples.
    const std::int64_t batch = x.size(0);
    const std::int64_t nodes = x.size(1);
    const std::int64_t p = waveform_.plateau_length();
    output = hardware_->forward(waveform_.points_to_plateaus(x.reshape({batch * nodes, electrodes})));
    output = output.view({batch, nodes, p, -1}).permute({0, 2, 1, 3}).reshape({batch * p, nodes, -1});
  } else {
    output = hardware_->forward(waveform_.points_to_plateaus(x));
  }
  if (!waveform_.is_static() && average_plateaus_) output = waveform_.plateaus_to_points(output);
  return output;
}

at::Tensor ProcessorImpl::forward_waveform(const at::Tensor& waveform) {
  if (!hardware_)
    throw ArgumentError("cannot apply a waveform: processor type '" + processor_type_ +
                        "' has no hardware path (use simulation_debug or a hardware type)");
  return hardware_->forward_waveform(waveform);
}

at::Tensor ProcessorImpl::format_targets(const at::Tensor& targets) const {
  if (waveform_.is_static() || average_plateaus_) return targets;
  return waveform_.points_to_plateaus(targets);
}

at::Tensor ProcessorImpl::voltage_ranges() const {
  return surrogate_ ? surrogate_->voltage_ranges() : hardware_->voltage_ranges();
}

at::Tensor ProcessorImpl::clipping_value() const {
  return surrogate_ ? surrogate_->clipping_value() : hardware_->clipping_value();
}

std::int64_t ProcessorImpl::activation_electrode_count() const {
  return electrode_info_.activation_electrode_no;
}

std::int64_t ProcessorImpl::readout_electrode_count() const {
  return electrode_info_.output_electrode_no;
}

bool ProcessorImpl::is_hardware() const { return hardware_ && hardware_->is_hardware(); }

void ProcessorImpl::close() {
  if (hardware_) hardware_->close();
}

}  // namespace brains::processors
