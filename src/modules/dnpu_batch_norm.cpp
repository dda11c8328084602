#include "brains/modules/dnpu_batch_norm.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <sstream>

#include "brains/core/error.h"

namespace brains::modules {

namespace {

const DNPUBatchNormOptions& checked(const DNPUBatchNormOptions& options) {
  if (!(options.eps() > 0))
    throw ArgumentError(fmt::format("cannot build DNPUBatchNorm: eps must be > 0, got {:g}", options.eps()));
  if (!(options.momentum() >= 0 && options.momentum() <= 1))
    throw ArgumentError(fmt::format(
        "cannot build DNPUBatchNorm: momentum must be within [0, 1], got {:g}", options.momentum()));
  return options;
}

// "brains::DNPU(<fields>)" -> "<fields>", so derived layers print the DNPU's fields too.
std::string dnpu_fields(const DNPUImpl& dnpu) {
  std::ostringstream text;
  dnpu.DNPUImpl::pretty_print(text);
  const std::string printed = text.str();
  const auto open = printed.find('(');
  return printed.substr(open + 1, printed.size() - open - 2);
}

}  // namespace

DNPUBatchNormImpl::DNPUBatchNormImpl(processors::Processor processor, DNPUBatchNormOptions options)
    : DNPUImpl(std::move(processor), checked(options).dnpu()), bn_options_(std::move(options)) {
  // One feature per DNPU output column: the nodes (times D_out, which is usually 1).
  const std::int64_t features = node_count() * processor_->readout_electrode_count();
  bn_ = register_module("bn", torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(features)
                                                         .affine(bn_options_.affine())
                                                         .track_running_stats(bn_options_.track_running_stats())
                                                         .momentum(bn_options_.momentum())
                                                         .eps(bn_options_.eps())));
}

at::Tensor DNPUBatchNormImpl::forward(const at::Tensor& x) {
  dnpu_output_ = DNPUImpl::forward(x);
  batch_norm_output_ = bn_->forward(dnpu_output_);
  return batch_norm_output_;
}

std::map<std::string, at::Tensor> DNPUBatchNormImpl::logged_outputs() const {
  if (!dnpu_output_.defined()) return {};
  return {{"c_dnpu_output", dnpu_output_.detach().clone()},
          {"d_batch_norm_output", batch_norm_output_.detach().clone()}};
}

void DNPUBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "brains::DNPUBatchNorm(" << dnpu_fields(*this)
         << fmt::format(", affine={}, track_running_stats={}, momentum={:g}, eps={:g})",
                        bn_options_.affine(), bn_options_.track_running_stats(),
                        bn_options_.momentum(), bn_options_.eps());
}

}  // namespace brains::modules
