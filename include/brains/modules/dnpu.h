// DNPU: learnable control voltages on top of a Processor (brains-py spec §2), usable as a
// layer in any LibTorch model. A layer has `nodes` DNPUs time-multiplexed on one processor;
// node k takes inputs on the electrodes data_input_indices[k] and learns one control
// voltage for each remaining activation electrode. The surrogate's weights are frozen:
// control voltages are the only parameters.
//
// Example:
//   DNPU layer(processor, DNPUOptions({{3, 4}, {1, 6}}).forward_pass("vec").seed(1));
//   layer->add_input_transform({0.0, 1.0});      // inputs in [0, 1] -> electrode ranges
//   at::Tensor y = layer->forward(x);            // x (B, 4) -> y (B, 2)
//
// Raises: ArgumentError (bad indices, shapes, dtypes or input widths; naming the value).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/processor.h"

namespace brains::modules {

using IndexLists = std::vector<std::vector<std::int64_t>>;

struct DNPUOptions {
  /* implicit */ DNPUOptions(IndexLists data_input_indices)
      : data_input_indices_(std::move(data_input_indices)) {}
  // Electrodes that take data, one list per node (all lists the same length).
  TORCH_ARG(IndexLists, data_input_indices);
  // "vec" (all nodes in one processor call) or "for" (one call per node); same results.
  TORCH_ARG(std::string, forward_pass) = "vec";
  // Seed of the uniform control-voltage initialisation; torch's generator when unset.
  TORCH_ARG(std::optional<std::uint64_t>, seed) = std::nullopt;
};

class DNPUImpl : public torch::nn::Module {
 public:
  DNPUImpl(processors::Processor processor, DNPUOptions options);

  // (B, nodes·n_in) -> (B, nodes·D_out); (B, nodes) for the usual single output.
  at::Tensor forward(const at::Tensor& x);
  at::Tensor forward_vec(const at::Tensor& x);
  at::Tensor forward_for(const at::Tensor& x);
  // A whole population of control voltages in one processor call (genetic algorithm):
  // x (B, nodes·n_in), controls (G, nodes, n_ctrl) -> (G, B, nodes·D_out). The layer's own
  // control voltages are not used or changed.
  at::Tensor forward_population(const at::Tensor& x, const at::Tensor& controls);

  // --- control voltages (nodes, n_ctrl), volts
  at::Tensor control_voltages() const;  // detached copy
  // Copies into the existing Parameter, so an optimizer holding it keeps working.
  void set_control_voltages(const at::Tensor& voltages);
  // Uniform within each control electrode's range.
  void reset_control_voltages(std::optional<std::uint64_t> seed = std::nullopt);
  // Σ relu(min − cv) + relu(cv − max): zero inside the ranges.
  at::Tensor regularizer() const;
  // Clips the control voltages into their ranges, in place.
  void constraint_control_voltages();

  // --- input transform: affine map from `input_range` to each data electrode's voltage
  // range; `input_range` is {min, max} for all electrodes or a (nodes, n_in, 2) tensor.
  // strict: inputs are clipped to input_range first.
  void add_input_transform(const at::Tensor& input_range, bool strict = true);
  void add_input_transform(std::pair<double, double> input_range, bool strict = true);
  void remove_input_transform();
  bool has_input_transform() const;
  bool input_clipping() const;
  at::Tensor transform_inputs(const at::Tensor& x) const;  // (…, nodes, n_in)

  // --- backend swaps (the control voltages stay)
  // Evaluation on another backend, e.g. hardware; warns if the voltage ranges differ.
  void hw_eval(const Config& configs, const std::optional<YAML::Node>& info = std::nullopt);
  // Back to a surrogate for training; the voltage ranges must match.
  void sw_train(const Config& configs, const YAML::Node& info,
                const std::optional<io::PyValue>& state_dict = std::nullopt);

  // Places data and controls on their electrodes: (…, nodes, n_in) and (…, nodes, n_ctrl)
  // -> (…, nodes, E) in electrode order.
  at::Tensor merge_electrode_data(const at::Tensor& data, const at::Tensor& controls) const;

  std::int64_t node_count() const { return data_input_indices_.size(0); }
  std::int64_t data_input_electrode_count() const { return data_input_indices_.size(1); }
  std::int64_t control_electrode_count() const { return control_indices_.size(1); }
  const at::Tensor& data_input_indices() const { return data_input_indices_; }
  const at::Tensor& control_indices() const { return control_indices_; }
  const at::Tensor& data_input_ranges() const { return data_input_ranges_; }
  const at::Tensor& control_ranges() const { return control_ranges_; }
  const at::Tensor& control_voltages_parameter() const { return control_voltages_; }
  processors::Processor& processor() { return processor_; }
  const std::string& forward_pass() const { return options_.forward_pass(); }
  at::Tensor format_targets(const at::Tensor& targets) const;
  bool is_hardware() const { return processor_->is_hardware(); }

  void pretty_print(std::ostream& stream) const override;

 protected:
  // (B, nodes, E) electrode voltages -> (B, nodes, D_out) currents.
  at::Tensor run_processor(const at::Tensor& electrodes);
  void init_electrode_info(const IndexLists& data_input_indices);
  void freeze_processor();
  void check_input_width(const at::Tensor& x) const;

  DNPUOptions options_;
  processors::Processor processor_;
  at::Tensor control_voltages_;    // parameter
  at::Tensor data_input_indices_;  // buffers from here on
  at::Tensor data_input_ranges_;
  at::Tensor control_indices_;
  at::Tensor control_ranges_;
  at::Tensor electrode_order_;     // argsort(cat(data, control)) per node
  at::Tensor raw_input_range_;     // (nodes, n_in, 2) or empty
  at::Tensor scale_;               // (nodes, n_in) or empty
  at::Tensor offset_;
  at::Tensor input_clip_;          // bool scalar: strict clipping of the inputs
};
TORCH_MODULE(DNPU);

// Validates node index lists against E activation electrodes: non-empty, rectangular,
// within [0, E), no duplicates in a node, at least one control electrode left.
void validate_data_input_indices(const IndexLists& indices, std::int64_t electrodes);

}  // namespace brains::modules
