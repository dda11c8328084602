#include "brains/modules/dnpu.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/modules/fused_surrogate.h"

namespace brains::modules {

namespace {

at::Tensor index_tensor(const IndexLists& lists) {
  const auto rows = static_cast<std::int64_t>(lists.size());
  const auto cols = static_cast<std::int64_t>(lists.front().size());
  at::Tensor out = at::empty({rows, cols}, at::kLong);
  auto view = out.accessor<std::int64_t, 2>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) view[r][c] = lists[r][c];
  return out;
}

// The activation electrodes of each node that do not take data, ascending.
at::Tensor complement_indices(const IndexLists& lists, std::int64_t electrodes) {
  IndexLists controls;
  for (const auto& row : lists) {
    const std::set<std::int64_t> used(row.begin(), row.end());
    std::vector<std::int64_t> rest;
    for (std::int64_t e = 0; e < electrodes; ++e)
      if (!used.count(e)) rest.push_back(e);
    controls.push_back(std::move(rest));
  }
  return index_tensor(controls);
}

// ranges (E, 2) gathered for each node's electrodes: (nodes, k, 2).
at::Tensor ranges_of(const at::Tensor& ranges, const at::Tensor& indices) {
  return ranges.index_select(0, indices.flatten()).view({indices.size(0), indices.size(1), 2});
}

}  // namespace

void validate_data_input_indices(const IndexLists& indices, std::int64_t electrodes) {
  if (indices.empty() || indices.front().empty())
    throw ArgumentError("cannot build DNPU: data_input_indices is empty (give one list per node)");
  const std::size_t width = indices.front().size();
  for (std::size_t node = 0; node < indices.size(); ++node) {
    const auto& row = indices[node];
    if (row.size() != width)
      throw ArgumentError(fmt::format(
          "cannot build DNPU: data_input_indices[{}] has {} electrodes, node 0 has {} (all nodes "
          "need the same number)", node, row.size(), width));
    std::set<std::int64_t> seen;
    for (const std::int64_t index : row) {
      if (index < 0 || index >= electrodes)
        throw ArgumentError(fmt::format(
            "cannot build DNPU: data_input_indices[{}] holds electrode {}, outside 0..{}", node,
            index, electrodes - 1));
      if (!seen.insert(index).second)
        throw ArgumentError(fmt::format(
            "cannot build DNPU: data_input_indices[{}] lists electrode {} twice", node, index));
    }
  }
  if (static_cast<std::int64_t>(width) >= electrodes)
    throw ArgumentError(fmt::format(
        "cannot build DNPU: {} data inputs on a {}-electrode device leave no control electrode",
        width, electrodes));
}

DNPUImpl::DNPUImpl(processors::Processor processor, DNPUOptions options)
    : options_(std::move(options)), processor_(std::move(processor)) {
  if (options_.forward_pass() != "vec" && options_.forward_pass() != "for")
    throw ArgumentError("cannot build DNPU: forward_pass must be 'vec' or 'for', got '" +
                        options_.forward_pass() + "'");
  register_module("processor", processor_);
  freeze_processor();
  init_electrode_info(options_.data_input_indices());
  control_voltages_ = register_parameter(
      "control_voltages", at::empty(control_indices_.sizes(), control_ranges_.options()));
  raw_input_range_ = register_buffer("raw_input_range", at::empty({0}));
  scale_ = register_buffer("scale", at::empty({0}));
  offset_ = register_buffer("offset", at::empty({0}));
  input_clip_ = register_buffer("input_clip", at::zeros({}, at::kBool));
  reset_control_voltages(options_.seed());
}

void DNPUImpl::freeze_processor() {
  for (auto& parameter : processor_->parameters()) parameter.set_requires_grad(false);
}

void DNPUImpl::init_electrode_info(const IndexLists& indices) {
  const std::int64_t electrodes = processor_->activation_electrode_count();
  validate_data_input_indices(indices, electrodes);
  const at::Tensor ranges = processor_->voltage_ranges().to(at::kFloat);
  const at::Tensor data = index_tensor(indices);
  const at::Tensor controls = complement_indices(indices, electrodes);
  const auto set_buffer = [this](at::Tensor& member, const char* name, const at::Tensor& value) {
    if (member.defined())
      member.set_(value);
    else
      member = register_buffer(name, value);
  };
  set_buffer(data_input_indices_, "data_input_indices", data);
  set_buffer(data_input_ranges_, "data_input_ranges", ranges_of(ranges, data));
  set_buffer(control_indices_, "control_indices", controls);
  set_buffer(control_ranges_, "control_ranges", ranges_of(ranges, controls));
  electrode_order_ = at::argsort(at::cat({data, controls}, 1), /*dim=*/1, /*descending=*/false);
}

at::Tensor DNPUImpl::forward(const at::Tensor& x) {
  return options_.forward_pass() == "vec" ? forward_vec(x) : forward_for(x);
}

at::Tensor DNPUImpl::transform_inputs(const at::Tensor& x) const {
  at::Tensor out = x;
  if (!has_input_transform()) return out;
  if (input_clipping())
    out = at::max(at::min(out, raw_input_range_.select(-1, 1)), raw_input_range_.select(-1, 0));
  return out * scale_ + offset_;
}

at::Tensor DNPUImpl::merge_electrode_data(const at::Tensor& data, const at::Tensor& controls) const {
  const at::Tensor merged = at::cat({data, controls}, -1);
  return merged.gather(-1, electrode_order_.expand(merged.sizes()));
}

at::Tensor DNPUImpl::run_processor(const at::Tensor& electrodes) {
  if (electrodes.dim() == 3) {  // training on a frozen surrogate: fused_surrogate.h
    const at::Tensor points = electrodes.reshape({-1, electrodes.size(-1)});
    if (fusable_surrogate(*processor_, points))
      return fused_surrogate_forward(*processor_, points)
          .view({electrodes.size(0), electrodes.size(1), 1});
  }
  return processor_->forward(electrodes);
}

at::Tensor DNPUImpl::forward_vec(const at::Tensor& x) {
  check_input_width(x);
  const std::int64_t nodes = node_count();
  const std::int64_t inputs = data_input_electrode_count();
  const std::int64_t batch = x.size(0);
  const at::Tensor data = transform_inputs(x.view({batch, nodes, inputs}));
  const at::Tensor controls = control_voltages_.expand({batch, nodes, control_electrode_count()});
  const at::Tensor outputs = run_processor(merge_electrode_data(data, controls));
  return outputs.reshape({outputs.size(0), -1});
}

at::Tensor DNPUImpl::forward_population(const at::Tensor& x, const at::Tensor& controls) {
  check_input_width(x);
  const std::int64_t nodes = node_count();
  const std::int64_t ctrl = control_electrode_count();
  if (controls.dim() != 3 || controls.size(1) != nodes || controls.size(2) != ctrl)
    throw ArgumentError(fmt::format(
        "cannot run DNPU population: controls must have shape (genomes, {}, {}), got {}", nodes,
        ctrl, fmt::join(controls.sizes(), "×")));
  const std::int64_t genomes = controls.size(0);
  const std::int64_t batch = x.size(0);
  const at::Tensor data = transform_inputs(x.view({batch, nodes, data_input_electrode_count()}))
                              .unsqueeze(0)
                              .expand({genomes, batch, nodes, data_input_electrode_count()});
  const at::Tensor merged = merge_electrode_data(
      data, controls.to(data.scalar_type()).unsqueeze(1).expand({genomes, batch, nodes, ctrl}));
  const at::Tensor outputs =
      run_processor(merged.reshape({genomes * batch, nodes, merged.size(-1)}));
  // Rows come back as (genome, sample) blocks, times P when plateaus are kept.
  return outputs.reshape({genomes, outputs.size(0) / genomes, -1});
}

void DNPUImpl::check_input_width(const at::Tensor& x) const {
  const std::int64_t nodes = node_count();
  const std::int64_t inputs = data_input_electrode_count();
  if (x.dim() != 2 || x.size(1) != nodes * inputs)
    throw ArgumentError(fmt::format(
        "cannot run DNPU: input must have shape (batch, {}) for {} nodes × {} inputs, got {}",
        nodes * inputs, nodes, inputs, fmt::join(x.sizes(), "×")));
}

at::Tensor DNPUImpl::forward_for(const at::Tensor& x) {
  check_input_width(x);
  const std::int64_t nodes = node_count();
  const std::int64_t inputs = data_input_electrode_count();
  const std::int64_t batch = x.size(0);
  const at::Tensor data = transform_inputs(x.view({batch, nodes, inputs}));
  std::vector<at::Tensor> outputs;
  for (std::int64_t node = 0; node < nodes; ++node) {
    const at::Tensor controls =
        control_voltages_.narrow(0, node, 1).expand({batch, 1, control_electrode_count()});
    const at::Tensor merged = at::cat({data.narrow(1, node, 1), controls}, -1);
    const at::Tensor order = electrode_order_.narrow(0, node, 1).expand(merged.sizes());
    outputs.push_back(run_processor(merged.gather(-1, order)));
  }
  const at::Tensor out = at::cat(outputs, 1);
  return out.reshape({out.size(0), -1});
}

at::Tensor DNPUImpl::control_voltages() const { return control_voltages_.detach().clone(); }

void DNPUImpl::set_control_voltages(const at::Tensor& voltages) {
  if (voltages.sizes() != control_voltages_.sizes())
    throw ArgumentError(fmt::format("cannot set control voltages: expected shape {}, got {}",
                                    fmt::join(control_voltages_.sizes(), "×"),
                                    fmt::join(voltages.sizes(), "×")));
  if (voltages.scalar_type() != control_voltages_.scalar_type())
    throw ArgumentError(std::string("cannot set control voltages: expected dtype ") +
                        c10::toString(control_voltages_.scalar_type()) + ", got " +
                        c10::toString(voltages.scalar_type()));
  at::NoGradGuard no_grad;
  control_voltages_.copy_(voltages);
}

void DNPUImpl::reset_control_voltages(std::optional<std::uint64_t> seed) {
  at::NoGradGuard no_grad;
  const at::Tensor low = control_ranges_.select(-1, 0);
  const at::Tensor high = control_ranges_.select(-1, 1);
  // Sampled in the parameter's shape: layers such as DNPUConv2d hold several control
  // vectors per node, each broadcast against the node's ranges.
  const auto sizes = control_voltages_.sizes();
  at::Tensor uniform;
  if (seed) {
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(*seed);
    uniform = at::rand(sizes, generator, low.options());
  } else {
    uniform = at::rand(sizes, low.options());
  }
  control_voltages_.copy_(low + (high - low) * uniform);
}

at::Tensor DNPUImpl::regularizer() const {
  const at::Tensor low = control_ranges_.select(-1, 0);
  const at::Tensor high = control_ranges_.select(-1, 1);
  return (at::relu(low - control_voltages_) + at::relu(control_voltages_ - high)).sum();
}

void DNPUImpl::constraint_control_voltages() {
  at::NoGradGuard no_grad;
  control_voltages_.copy_(
      at::max(at::min(control_voltages_, control_ranges_.select(-1, 1)), control_ranges_.select(-1, 0)));
}

void DNPUImpl::add_input_transform(std::pair<double, double> input_range, bool strict) {
  add_input_transform(at::tensor({input_range.first, input_range.second}, at::kFloat), strict);
}

void DNPUImpl::add_input_transform(const at::Tensor& input_range, bool strict) {
  at::Tensor range = input_range.to(data_input_ranges_.scalar_type());
  if (range.dim() == 1 && range.size(0) == 2)
    range = range.expand(data_input_ranges_.sizes()).clone();
  if (range.sizes() != data_input_ranges_.sizes())
    throw ArgumentError(fmt::format(
        "cannot add input transform: input range must be [min, max] or shape {}, got {}",
        fmt::join(data_input_ranges_.sizes(), "×"), fmt::join(input_range.sizes(), "×")));
  const at::Tensor in_min = range.select(-1, 0);
  const at::Tensor in_max = range.select(-1, 1);
  if (!(in_min < in_max).all().item<bool>())
    throw ArgumentError("cannot add input transform: every input range needs min < max");
  const at::Tensor v_min = data_input_ranges_.select(-1, 0);
  const at::Tensor v_max = data_input_ranges_.select(-1, 1);
  // The affine map [in_min, in_max] -> [v_min, v_max], per electrode (brains-py §2).
  raw_input_range_.set_(range);
  scale_.set_((v_min - v_max) / (in_min - in_max));
  offset_.set_((v_max * in_min - v_min * in_max) / (in_min - in_max));
  input_clip_.fill_(strict);
}

void DNPUImpl::remove_input_transform() {
  raw_input_range_.set_(at::empty({0}));
  scale_.set_(at::empty({0}));
  offset_.set_(at::empty({0}));
  input_clip_.fill_(false);
}

bool DNPUImpl::has_input_transform() const { return scale_.numel() > 0; }
bool DNPUImpl::input_clipping() const { return input_clip_.item<bool>(); }

at::Tensor DNPUImpl::format_targets(const at::Tensor& targets) const {
  return processor_->format_targets(targets);
}

void DNPUImpl::hw_eval(const Config& configs, const std::optional<YAML::Node>& info) {
  eval();
  const at::Tensor before = processor_->voltage_ranges().clone();
  processor_->swap(configs, info ? info : processor_->info());
  freeze_processor();
  const at::Tensor after = processor_->voltage_ranges();
  if (before.sizes() != after.sizes() || !at::allclose(before.to(at::kFloat), after.to(at::kFloat), 1e-3, 1e-3))
    log::warn("the voltage ranges of the new backend differ from the ones the control voltages "
              "were trained in; check the setup matches the surrogate");
}

void DNPUImpl::sw_train(const Config& configs, const YAML::Node& info,
                        const std::optional<io::PyValue>& state_dict) {
  train();
  const at::Tensor before = processor_->voltage_ranges().clone();
  processor_->swap(configs, info, state_dict);
  freeze_processor();
  const at::Tensor after = processor_->voltage_ranges();
  if (before.sizes() != after.sizes() || !at::allclose(before.to(at::kFloat), after.to(at::kFloat), 1e-3, 1e-3))
    throw ArgumentError("cannot switch the DNPU back to training: the surrogate's voltage ranges "
                        "differ from the current backend's");
}

void DNPUImpl::pretty_print(std::ostream& stream) const {
  std::vector<std::string> nodes;
  for (const auto& row : options_.data_input_indices())
    nodes.push_back(fmt::format("[{}]", fmt::join(row, ",")));
  stream << "brains::DNPU(nodes=" << node_count() << ", inputs=[" << fmt::format("{}", fmt::join(nodes, ","))
         << "], forward=" << options_.forward_pass();
  if (has_input_transform())
    stream << ", transform=[" << raw_input_range_.select(-1, 0).min().item<float>() << ","
           << raw_input_range_.select(-1, 1).max().item<float>() << "]"
           << (input_clipping() ? ", strict" : "");
  stream << ")";
}

}  // namespace brains::modules
