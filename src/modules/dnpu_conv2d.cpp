#include "brains/modules/dnpu_conv2d.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brains/core/error.h"
#include "brains/modules/fused_surrogate.h"

namespace brains::modules {

namespace {

// Checks the convolution's own sizes (the DNPU checks the indices) and passes the DNPU's
// options on.
DNPUOptions dnpu_options(const DNPUConv2dOptions& options) {
  const auto require = [](const char* name, std::int64_t value, std::int64_t minimum) {
    if (value < minimum)
      throw ArgumentError(fmt::format("cannot build DNPUConv2d: {} must be {}, got {}", name,
                                      minimum == 0 ? ">= 0" : "> 0", value));
  };
  require("in_channels", options.in_channels(), 1);
  require("out_channels", options.out_channels(), 1);
  require("kernel_size", options.kernel_size(), 1);
  require("stride", options.stride(), 1);
  require("padding", options.padding(), 0);
  return DNPUOptions(options.data_input_indices()).forward_pass(options.forward_pass()).seed(options.seed());
}

}  // namespace

DNPUConv2dImpl::DNPUConv2dImpl(processors::Processor processor, DNPUConv2dOptions options)
    : DNPUImpl(std::move(processor), dnpu_options(options)), conv_options_(std::move(options)) {
  const std::int64_t k = conv_options_.kernel_size();
  const std::int64_t nodes = node_count();
  const std::int64_t inputs = data_input_electrode_count();
  if (nodes * inputs != k * k)
    throw ArgumentError(fmt::format(
        "cannot build DNPUConv2d: data_input_indices hold {} nodes × {} inputs = {} pixels, a "
        "{}×{} kernel has {}", nodes, inputs, nodes * inputs, k, k, k * k));
  if (processor_->readout_electrode_count() != 1)
    throw ArgumentError(fmt::format(
        "cannot build DNPUConv2d: the processor has {} output electrodes, a convolution needs 1",
        processor_->readout_electrode_count()));
  // One control vector per virtual device (i, o, n), each within its node's ranges.
  {
    at::NoGradGuard no_grad;
    control_voltages_.set_(at::empty({in_channels(), out_channels(), nodes, control_electrode_count()},
                                     control_voltages_.options()));
  }
  reset_control_voltages(conv_options_.seed());
}

std::int64_t DNPUConv2dImpl::output_size(std::int64_t input_size) const {
  const std::int64_t padded = input_size + 2 * conv_options_.padding();
  return (padded - conv_options_.kernel_size()) / conv_options_.stride() + 1;
}

void DNPUConv2dImpl::check_input(const at::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != in_channels())
    throw ArgumentError(fmt::format(
        "cannot run DNPUConv2d: input must have shape (batch, {}, height, width), got {}",
        in_channels(), fmt::join(x.sizes(), "×")));
  const std::int64_t k = conv_options_.kernel_size();
  const std::int64_t pad = conv_options_.padding();
  if (x.size(2) + 2 * pad < k || x.size(3) + 2 * pad < k)
    throw ArgumentError(fmt::format(
        "cannot run DNPUConv2d: a {}×{} kernel does not fit a {}×{} image with padding {}", k, k,
        x.size(2), x.size(3), pad));
}

at::Tensor DNPUConv2dImpl::patches(const at::Tensor& x) const {
  const std::int64_t k = conv_options_.kernel_size();
  const std::int64_t pad = conv_options_.padding();
  const std::int64_t stride = conv_options_.stride();
  // (B, C_in·k·k, L), ordered channel, kernel row, kernel column (as nn.Unfold).
  const at::Tensor columns = at::im2col(x, {k, k}, /*dilation=*/{1, 1}, {pad, pad}, {stride, stride});
  const at::Tensor grouped =
      columns.view({x.size(0), in_channels(), node_count(), data_input_electrode_count(), -1})
          .permute({0, 4, 1, 2, 3});
  return transform_inputs(grouped);
}

at::Tensor DNPUConv2dImpl::run_devices_vec(const at::Tensor& patches) {
  const std::int64_t batch = patches.size(0);
  const std::int64_t positions = patches.size(1);
  const std::int64_t nodes = node_count();
  const at::Tensor data =
      patches.unsqueeze(3).expand({batch, positions, in_channels(), out_channels(), nodes,
                                   data_input_electrode_count()});
  const at::Tensor controls = control_voltages_.expand(
      {batch, positions, in_channels(), out_channels(), nodes, control_electrode_count()});
  const at::Tensor electrodes = merge_electrode_data(data, controls)
                                    .view({-1, processor_->activation_electrode_count()});
  // Training on a frozen surrogate: input gradients computed in the forward pass, in cache.
  const at::Tensor outputs = conv_options_.fused_surrogate() && fusable_surrogate(*processor_, electrodes)
                                 ? fused_surrogate_forward(*processor_, electrodes)
                                 : run_processor(electrodes);
  if (outputs.size(0) != electrodes.size(0))
    throw ArgumentError(fmt::format(
        "cannot run DNPUConv2d: the processor returned {} rows for {} points; a convolution "
        "needs plateau-averaged outputs", outputs.size(0), electrodes.size(0)));
  return outputs.view({batch, positions, in_channels(), out_channels(), nodes});
}

at::Tensor DNPUConv2dImpl::run_devices_for(const at::Tensor& patches) {
  const std::int64_t batch = patches.size(0);
  const std::int64_t positions = patches.size(1);
  const std::int64_t electrodes = processor_->activation_electrode_count();
  std::vector<at::Tensor> outputs;
  for (std::int64_t i = 0; i < in_channels(); ++i)
    for (std::int64_t o = 0; o < out_channels(); ++o)
      for (std::int64_t n = 0; n < node_count(); ++n) {
        const at::Tensor data = patches.select(2, i).select(2, n);  // (B, L, n_in)
        const at::Tensor controls =
            control_voltages_[i][o][n].expand({batch, positions, control_electrode_count()});
        const at::Tensor merged = at::cat({data, controls}, -1);
        const at::Tensor order = electrode_order_[n].expand(merged.sizes());
        const at::Tensor device = run_processor(merged.gather(-1, order).view({-1, electrodes}));
        if (device.size(0) != batch * positions)
          throw ArgumentError(fmt::format(
              "cannot run DNPUConv2d: the processor returned {} rows for {} points; a "
              "convolution needs plateau-averaged outputs", device.size(0), batch * positions));
        outputs.push_back(device.view({batch, positions}));
      }
  return at::stack(outputs, 2).view({batch, positions, in_channels(), out_channels(), node_count()});
}

at::Tensor DNPUConv2dImpl::forward(const at::Tensor& x) {
  check_input(x);
  const std::int64_t batch = x.size(0);
  const at::Tensor data = patches(x);
  const at::Tensor devices = forward_pass() == "vec" ? run_devices_vec(data) : run_devices_for(data);
  // Σ over input channels, then over nodes (brains-py's order): (B, L, C_out).
  const at::Tensor summed = devices.sum(2).sum(3);
  return summed.transpose(1, 2).reshape(
      {batch, out_channels(), output_size(x.size(2)), output_size(x.size(3))});
}

void DNPUConv2dImpl::pretty_print(std::ostream& stream) const {
  std::vector<std::string> nodes;
  for (const auto& row : conv_options_.data_input_indices())
    nodes.push_back(fmt::format("[{}]", fmt::join(row, ",")));
  stream << fmt::format("brains::DNPUConv2d(in={}, out={}, kernel={}, stride={}, padding={}, nodes={}, inputs=[{}]",
                        in_channels(), out_channels(), conv_options_.kernel_size(),
                        conv_options_.stride(), conv_options_.padding(), node_count(),
                        fmt::join(nodes, ","));
  if (forward_pass() != "vec") stream << ", forward=" << forward_pass();
  if (has_input_transform())
    stream << ", transform=[" << raw_input_range_.select(-1, 0).min().item<float>() << ","
           << raw_input_range_.select(-1, 1).max().item<float>() << "]"
           << (input_clipping() ? ", strict" : "");
  stream << ")";
}

}  // namespace brains::modules
