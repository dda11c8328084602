#include "brains/io/describe.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/io/io_dat.h"
#include "brains/io/npy.h"
#include "brains/io/npz.h"
#include "brains/io/py_value.h"
#include "brains/io/sampler_configs.h"
#include "brains/io/torch_file.h"

namespace brains::io {

namespace fs = std::filesystem;

namespace {

std::string dtype_name(const at::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kHalf: return "float16";
    default: return std::string(c10::toString(tensor.scalar_type()));
  }
}

// "tensor float32 [90, 7]"; small arrays also show their values, which is what a reader of
// an `info` dict (voltage ranges, amplification) wants to see.
YAML::Node describe_tensor(const at::Tensor& tensor, const char* kind) {
  std::string shape;
  for (std::size_t i = 0; i < tensor.sizes().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(tensor.sizes()[i]);
  YAML::Node node;
  node = fmt::format("{} {} [{}]", kind, dtype_name(tensor), shape);
  if (tensor.numel() > 0 && tensor.numel() <= 16) {
    YAML::Node detail;
    detail["type"] = fmt::format("{} {} [{}]", kind, dtype_name(tensor), shape);
    detail["values"] = to_yaml(PyValue::array(tensor));
    detail["values"].SetStyle(YAML::EmitterStyle::Flow);
    return detail;
  }
  return node;
}

YAML::Node describe_value(const PyValue& value) {
  switch (value.kind()) {
    case PyValue::Kind::Tensor: return describe_tensor(value.tensor(), "tensor");
    case PyValue::Kind::Array: return describe_tensor(value.tensor(), "array");
    case PyValue::Kind::Dict: {
      YAML::Node node(YAML::NodeType::Map);
      for (const auto& [key, item] : value.dict_items()) {
        const std::string name = key.kind() == PyValue::Kind::String ? key.as_string()
                                 : key.kind() == PyValue::Kind::Int ? std::to_string(key.as_int())
                                                                    : key.kind_name();
        node[name] = describe_value(item);
      }
      return node;
    }
    case PyValue::Kind::List:
    case PyValue::Kind::Tuple: {
      const auto& items = value.items();
      const bool all_scalars = std::all_of(items.begin(), items.end(), [](const PyValue& item) {
        return !item.is_dict() && !item.is_sequence() && !item.is_tensor_like();
      });
      if (all_scalars && items.size() > 16) {
        YAML::Node node;
        node = fmt::format("{} of {} numbers", value.kind_name(), items.size());
        return node;
      }
      YAML::Node node(YAML::NodeType::Sequence);
      for (const auto& item : items) node.push_back(describe_value(item));
      if (all_scalars) node.SetStyle(YAML::EmitterStyle::Flow);
      return node;
    }
    case PyValue::Kind::Bytes: {
      YAML::Node node;
      node = fmt::format("bytes ({})", value.as_string().size());
      return node;
    }
    default: return to_yaml(value);
  }
}

std::string lower_extension(const fs::path& file) {
  std::string extension = file.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

YAML::Node describe_io_dat(const fs::path& file) {
  const IoData data = read_io_dat(file);
  YAML::Node node;
  node["format"] = "IO.dat (sampler text data)";
  node["samples"] = data.inputs.size(0);
  node["inputs"] = data.inputs.size(1);
  node["outputs"] = data.outputs.size(1);
  if (data.inputs.size(0) > 0) {
    const at::Tensor all = at::cat({data.inputs, data.outputs}, 1);
    const auto columns = [&](const at::Tensor& row) {
      YAML::Node values = to_yaml(PyValue::array(row));
      values.SetStyle(YAML::EmitterStyle::Flow);
      return values;
    };
    node["min"] = columns(std::get<0>(all.min(0)));
    node["max"] = columns(std::get<0>(all.max(0)));
    node["mean"] = columns(all.mean(0));
  }
  return node;
}

YAML::Node describe_npz(const fs::path& file) {
  const NpzFile npz = read_npz(file);
  YAML::Node node;
  node["format"] = "npz (numpy archive)";
  YAML::Node entries(YAML::NodeType::Map);
  for (const auto& [name, value] : npz.entries()) entries[name] = describe_value(value);
  node["entries"] = entries;
  return node;
}

}  // namespace

YAML::Node describe_file(const fs::path& file) {
  if (!fs::is_regular_file(file))
    throw FormatError(file.string(), "", "cannot describe file: no such file");
  const std::string extension = lower_extension(file);
  if (extension == ".pt" || extension == ".pth" || extension == ".pickle" || extension == ".pkl") {
    YAML::Node node;
    node["format"] = "torch file (zip + pickle)";
    node["content"] = describe_value(load_torch_file(file));
    return node;
  }
  if (extension == ".npz") return describe_npz(file);
  if (extension == ".npy") {
    YAML::Node node;
    node["format"] = "npy (numpy array)";
    node["content"] = describe_value(read_npy_value(file));
    return node;
  }
  if (extension == ".dat") return describe_io_dat(file);
  if (file.filename() == "sampler_configs.json") {
    YAML::Node node;
    node["format"] = "sampler configs (YAML)";
    node["content"] = read_sampler_configs(file);
    return node;
  }
  if (extension == ".yaml" || extension == ".yml" || extension == ".json") {
    YAML::Node node;
    try {
      node["format"] = "YAML config (includes resolved)";
      node["content"] = Config::load(file).node();
    } catch (const MissingIncludeError& error) {
      // A template whose includes live elsewhere is still worth showing: describe the
      // file as written and say what could not be resolved.
      node["format"] = "YAML config (includes not resolved)";
      node["unresolved"] = error.what();
      node["content"] = YAML::LoadFile(file.string());
    }
    return node;
  }
  throw FormatError(file.string(), "",
                    "cannot describe file: unknown type '" + extension +
                        "' (expected .pt, .pth, .pickle, .npz, .npy, .dat, .yaml, .yml or .json)");
}

}  // namespace brains::io
