#include "brains/processors/neural_network_model.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <ostream>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "dense_inference.h"

namespace brains::processors {

namespace {

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names{"relu", "elu", "tanh", "hard-tanh", "sigmoid"};
  return names;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  return node.IsSequence() ? "a list" : "a mapping";
}

// A positive integer written as a plain YAML integer: 7.5, "7" (quoted) and true are not,
// as brains-py demands type(x) == int.
std::int64_t positive_int(const YAML::Node& node, const std::string& key_path) {
  std::int64_t value = 0;
  const bool quoted = node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
  if (!node.IsScalar() || quoted || !YAML::convert<std::int64_t>::decode(node, value) ||
      value <= 0)
    throw ConfigError(key_path, "expected a positive integer, got " + describe(node));
  return value;
}

std::vector<std::int64_t> positive_ints(const Config& list) {
  if (!list.node().IsSequence() || list.node().size() == 0)
    throw ConfigError(list.key_path(),
                      "expected a non-empty list of positive integers, got " +
                          describe(list.node()));
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < list.node().size(); ++i)
    out.push_back(positive_int(list.node()[i], list.key_path() + "[" + std::to_string(i) + "]"));
  return out;
}

std::string format_sizes(const std::vector<std::int64_t>& sizes) {
  std::string out;
  for (auto size : sizes) out += (out.empty() ? "" : ", ") + std::to_string(size);
  return "[" + out + "]";
}

torch::nn::AnyModule make_activation(const std::string& name) {
  if (name == "elu") return torch::nn::AnyModule(torch::nn::ELU());
  if (name == "tanh") return torch::nn::AnyModule(torch::nn::Tanh());
  if (name == "hard-tanh") return torch::nn::AnyModule(torch::nn::Hardtanh());
  if (name == "sigmoid") return torch::nn::AnyModule(torch::nn::Sigmoid());
  return torch::nn::AnyModule(torch::nn::ReLU());
}

}  // namespace

ModelStructure ModelStructure::from_config(const Config& model_structure) {
  const YAML::Node& node = model_structure.node();
  if (node.IsDefined() && !node.IsNull() && !node.IsMap())
    throw ConfigError(model_structure.key_path(), "expected a mapping, got " + describe(node));
  model_structure.warn_unknown_keys({"D_in", "D_out", "hidden_sizes", "activation"});

  ModelStructure out;
  const auto missing = [&](const char* key, const std::string& fallback) {
    if (model_structure.has(key)) return false;
    log::warn("{}: missing, using the default {}", model_structure.key_path(key), fallback);
    return true;
  };
  if (!missing("D_in", std::to_string(out.d_in)))
    out.d_in = positive_int(node["D_in"], model_structure.key_path("D_in"));
  if (!missing("D_out", std::to_string(out.d_out)))
    out.d_out = positive_int(node["D_out"], model_structure.key_path("D_out"));
  if (!missing("hidden_sizes", format_sizes(out.hidden_sizes)))
    out.hidden_sizes = positive_ints(model_structure.at("hidden_sizes"));
  if (!missing("activation", out.activation)) {
    const Config activation = model_structure.at("activation");
    const auto& names = activation_names();
    if (!activation.node().IsScalar() ||
        std::find(names.begin(), names.end(), activation.node().Scalar()) == names.end())
      throw ConfigError(activation.key_path(), "expected one of " + join(names) + ", got " +
                                                   describe(activation.node()));
    out.activation = activation.node().Scalar();
  }
  return out;
}

YAML::Node ModelStructure::to_yaml() const {
  YAML::Node node(YAML::NodeType::Map);
  node["D_in"] = d_in;
  node["D_out"] = d_out;
  node["hidden_sizes"] = hidden_sizes;
  node["hidden_sizes"].SetStyle(YAML::EmitterStyle::Flow);
  node["activation"] = activation;
  return node;
}

NeuralNetworkModelImpl::NeuralNetworkModelImpl(ModelStructure structure)
    : structure_(std::move(structure)) {
  const auto& names = activation_names();
  if (std::find(names.begin(), names.end(), structure_.activation) == names.end())
    throw ConfigError("model_structure.activation",
                      "expected one of " + join(names) + ", got '" + structure_.activation + "'");
  if (structure_.d_in <= 0 || structure_.d_out <= 0 || structure_.hidden_sizes.empty() ||
      *std::min_element(structure_.hidden_sizes.begin(), structure_.hidden_sizes.end()) <= 0)
    throw ConfigError("model_structure",
                      "expected positive D_in, D_out and hidden_sizes, got D_in " +
                          std::to_string(structure_.d_in) + ", D_out " +
                          std::to_string(structure_.d_out) + ", hidden_sizes " +
                          format_sizes(structure_.hidden_sizes));
  reset();
}

void NeuralNetworkModelImpl::reset() {
  // Linear layers at even indices, activations between them, none after the output layer:
  // exactly brains-py's nn.Sequential, so state-dict keys are raw_model.{0,2,…}.
  torch::nn::Sequential layers;
  std::int64_t width = structure_.d_in;
  for (std::int64_t hidden : structure_.hidden_sizes) {
    layers->push_back(torch::nn::Linear(width, hidden));
    layers->push_back(make_activation(structure_.activation));
    width = hidden;
  }
  layers->push_back(torch::nn::Linear(width, structure_.d_out));
  raw_model = register_module("raw_model", layers);
}

void NeuralNetworkModelImpl::pretty_print(std::ostream& stream) const {
  std::string hidden;
  for (auto size : structure_.hidden_sizes)
    hidden += (hidden.empty() ? "" : ",") + std::to_string(size);
  stream << "brains::NeuralNetworkModel(D_in=" << structure_.d_in << ", hidden_sizes=[" << hidden
         << "], D_out=" << structure_.d_out << ", activation=" << structure_.activation << ")";
}

at::Tensor NeuralNetworkModelImpl::forward(const at::Tensor& x) {
  if (x.dim() == 0 || x.size(-1) != structure_.d_in)
    throw ArgumentError("cannot run the surrogate network: expected inputs with " +
                        std::to_string(structure_.d_in) + " columns (D_in), got shape " +
                        c10::str(x.sizes()));
  if (needs_autograd(x) || !x.device().is_cpu() || x.scalar_type() != at::kFloat)
    return raw_model->forward(x);
  return infer(x);
}

bool NeuralNetworkModelImpl::needs_autograd(const at::Tensor& x) const {
  if (!at::GradMode::is_enabled()) return false;
  if (x.requires_grad()) return true;
  for (const auto& parameter : parameters())
    if (parameter.requires_grad()) return true;
  return false;
}

at::Tensor NeuralNetworkModelImpl::infer(const at::Tensor& x) {
  std::vector<DenseLayerWeights> layers;
  for (const auto& module : raw_model->children())
    if (const auto* linear = module->as<torch::nn::Linear>())
      layers.push_back({linear->weight.detach(), linear->bias.detach()});
  const at::Tensor input = x.reshape({-1, structure_.d_in});
  std::optional<at::Tensor> output = dense_inference(layers, structure_.activation, input);
  if (!output) return raw_model->forward(x);  // no BLAS, or not float32 CPU weights

  std::vector<std::int64_t> sizes = x.sizes().vec();
  sizes.back() = structure_.d_out;
  return output->view(sizes);
}

}  // namespace brains::processors
