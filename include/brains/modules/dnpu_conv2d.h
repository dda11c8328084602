// DNPUConv2d: a 2-D convolution whose kernel is made of DNPUs (brains-py spec §8.2).
// Each k×k patch of each input channel, flattened row-major, is split into `nodes` groups
// of n_in pixels (nodes·n_in = k²); group n drives the data electrodes
// data_input_indices[n] of a DNPU. Every (input channel i, output channel o, node n) is its
// own virtual device with its own control voltages, so the control voltages have shape
// (in_channels, out_channels, nodes, n_ctrl), and
//   out[b, o, y, x] = Σ_i Σ_n DNPU_{i,o,n}(patch_{b,i,n}(y, x); cv[i, o, n]).
// There are no weights or bias. Padding pads the raw input with zeros before the input
// transform (as brains-py). Unlike brains-py, strict input clipping is honoured, and
// non-square images work (the output size is computed per dimension).
//
// All virtual devices run in one processor call ("vec") or one call per device ("for").
// Under autograd, the vec pass on a frozen single-output relu surrogate computes each
// evaluation's input gradient alongside its output, in cache-sized chunks, instead of
// recording the surrogate's layers (fused_surrogate.h; 3-5× faster training steps).
//
// Example:
//   DNPUConv2d conv(processor, DNPUConv2dOptions({{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},
//                                                /*in_channels=*/1, /*out_channels=*/6,
//                                                /*kernel_size=*/3).padding(1).seed(1));
//   conv->add_input_transform({0.0, 1.0});
//   at::Tensor y = conv->forward(images);   // (B, 1, 28, 28) -> (B, 6, 28, 28)
//
// Raises: ArgumentError (bad indices or sizes at construction; input of the wrong rank,
//         channel count or too small for the kernel; a processor that does not average
//         plateaus or has several outputs).
#pragma once

#include "brains/modules/dnpu.h"

namespace brains::modules {

struct DNPUConv2dOptions {
  DNPUConv2dOptions(IndexLists data_input_indices, std::int64_t in_channels,
                    std::int64_t out_channels, std::int64_t kernel_size)
      : data_input_indices_(std::move(data_input_indices)),
        in_channels_(in_channels),
        out_channels_(out_channels),
        kernel_size_(kernel_size) {}
  // nodes × n_in electrode indices with nodes·n_in == kernel_size².
  TORCH_ARG(IndexLists, data_input_indices);
  TORCH_ARG(std::int64_t, in_channels);
  TORCH_ARG(std::int64_t, out_channels);
  // Square kernels only (as brains-py).
  TORCH_ARG(std::int64_t, kernel_size);
  TORCH_ARG(std::int64_t, stride) = 1;
  // Zeros on every side of the raw input.
  TORCH_ARG(std::int64_t, padding) = 0;
  // "vec": every virtual device in one processor call; "for": one call per device.
  TORCH_ARG(std::string, forward_pass) = "vec";
  // Seed of the uniform control-voltage initialisation; torch's generator when unset.
  TORCH_ARG(std::optional<std::uint64_t>, seed) = std::nullopt;
  // vec pass under autograd: compute each evaluation's input gradient in the forward pass
  // when the processor allows it (fused_surrogate.h); false records the surrogate's layers.
  TORCH_ARG(bool, fused_surrogate) = true;
};

class DNPUConv2dImpl : public DNPUImpl {
 public:
  DNPUConv2dImpl(processors::Processor processor, DNPUConv2dOptions options);

  // (B, in_channels, H, W) -> (B, out_channels, H_out, W_out).
  at::Tensor forward(const at::Tensor& x);
  // (size + 2·padding − kernel) / stride + 1, for one image dimension.
  std::int64_t output_size(std::int64_t input_size) const;

  std::int64_t in_channels() const { return conv_options_.in_channels(); }
  std::int64_t out_channels() const { return conv_options_.out_channels(); }
  const DNPUConv2dOptions& conv_options() const { return conv_options_; }

  // brains::DNPUConv2d(in=1, out=6, kernel=3, stride=1, padding=0, nodes=3, inputs=[[2,3,4],…])
  void pretty_print(std::ostream& stream) const override;

 private:
  // The DNPU's (B, nodes·n_in) passes do not apply to images.
  using DNPUImpl::forward_for;
  using DNPUImpl::forward_vec;
  using DNPUImpl::forward_population;

  void check_input(const at::Tensor& x) const;
  // (B, C_in, H, W) -> transformed patch voltages (B, L, C_in, nodes, n_in).
  at::Tensor patches(const at::Tensor& x) const;
  // Patches -> device outputs (B, L, C_in, C_out, nodes).
  at::Tensor run_devices_vec(const at::Tensor& patches);
  at::Tensor run_devices_for(const at::Tensor& patches);

  DNPUConv2dOptions conv_options_;
};
TORCH_MODULE(DNPUConv2d);

}  // namespace brains::modules
