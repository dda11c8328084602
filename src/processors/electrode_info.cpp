#include "brains/processors/electrode_info.h"

#include <ATen/ATen.h>

#include <cmath>

#include "brains/core/error.h"
#include "brains/io/py_value.h"

namespace brains::processors {

namespace {

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  return node.IsSequence() ? "a list of " + std::to_string(node.size()) : "a mapping";
}

std::int64_t positive_int(const Config& value) {
  std::int64_t out = 0;
  if (!value.node().IsScalar() || !YAML::convert<std::int64_t>::decode(value.node(), out) ||
      out <= 0)
    throw ConfigError(value.key_path(),
                      "expected a positive integer, got " + describe(value.node()));
  return out;
}

double finite_number(const Config& value) {
  double out = 0;
  if (!value.node().IsScalar() || !YAML::convert<double>::decode(value.node(), out) ||
      !std::isfinite(out))
    throw ConfigError(value.key_path(), "expected a finite number, got " + describe(value.node()));
  return out;
}

// A plain number (nan and ±inf allowed, as in get_electrode_info's [-inf, inf]).
double number(const Config& value) {
  double out = 0;
  if (!value.node().IsScalar() || !YAML::convert<double>::decode(value.node(), out))
    throw ConfigError(value.key_path(), "expected a number, got " + describe(value.node()));
  return out;
}

Config item(const Config& list, std::size_t i) {
  return Config(list.node()[i], list.key_path() + "[" + std::to_string(i) + "]");
}

YAML::Node float_node(double value) { return io::to_yaml(io::PyValue::floating(value)); }

}  // namespace

std::vector<double> amplification_from_config(const Config& amplification,
                                              std::int64_t expected_count) {
  const YAML::Node& node = amplification.node();
  if (node.IsScalar()) return {finite_number(amplification)};  // one factor for all outputs
  if (!node.IsSequence() || static_cast<std::int64_t>(node.size()) != expected_count)
    throw ConfigError(amplification.key_path(),
                      "expected a list of " + std::to_string(expected_count) +
                          " factors (one per output electrode), got " + describe(node));
  std::vector<double> out;
  for (std::size_t i = 0; i < node.size(); ++i) out.push_back(finite_number(item(amplification, i)));
  return out;
}

std::pair<double, double> clipping_from_config(const Config& clipping) {
  const YAML::Node& node = clipping.node();
  if (!node.IsSequence() || node.size() != 2)
    throw ConfigError(clipping.key_path(), "expected [min, max], got " + describe(node));
  const double low = number(item(clipping, 0));
  const double high = number(item(clipping, 1));
  if (std::isnan(low) || std::isnan(high) || low > high)
    throw ConfigError(clipping.key_path(), "expected [min, max] with min <= max, got [" +
                                               node[0].Scalar() + ", " + node[1].Scalar() + "]");
  return {low, high};
}

at::Tensor voltage_ranges_from_config(const Config& ranges, std::int64_t expected_rows) {
  const YAML::Node& node = ranges.node();
  if (!node.IsSequence() || static_cast<std::int64_t>(node.size()) != expected_rows)
    throw ConfigError(ranges.key_path(),
                      "expected " + std::to_string(expected_rows) +
                          " [min, max] rows (one per activation electrode), got " + describe(node));
  at::Tensor out = at::empty({expected_rows, 2}, at::kFloat);
  auto values = out.accessor<float, 2>();
  for (std::size_t i = 0; i < node.size(); ++i) {
    const Config row = item(ranges, i);
    if (!row.node().IsSequence() || row.node().size() != 2)
      throw ConfigError(row.key_path(), "expected [min, max], got " + describe(row.node()));
    const double low = finite_number(item(row, 0));
    const double high = finite_number(item(row, 1));
    if (low > high)
      throw ConfigError(row.key_path(), "expected [min, max] with min <= max, got [" +
                                            row.node()[0].Scalar() + ", " +
                                            row.node()[1].Scalar() + "]");
    values[i][0] = static_cast<float>(low);
    values[i][1] = static_cast<float>(high);
  }
  return out;
}

ElectrodeInfo ElectrodeInfo::from_config(const Config& electrode_info) {
  if (!electrode_info.node().IsMap())
    throw ConfigError(electrode_info.key_path(),
                      "expected a mapping, got " + describe(electrode_info.node()));
  ElectrodeInfo out;
  const Config activation = electrode_info.at("activation_electrodes");
  out.activation_electrode_no = positive_int(activation.at("electrode_no"));
  out.voltage_ranges =
      voltage_ranges_from_config(activation.at("voltage_ranges"), out.activation_electrode_no);

  const Config output = electrode_info.at("output_electrodes");
  out.output_electrode_no = positive_int(output.at("electrode_no"));
  out.amplification = amplification_from_config(output.at("amplification"), out.output_electrode_no);
  // Null (or absent) means the setup did not clip.
  if (output.has("clipping_value")) out.clipping_value = clipping_from_config(output.at("clipping_value"));

  // The total is redundant; older files may lack it.
  out.electrode_no = electrode_info.has("electrode_no")
                         ? positive_int(electrode_info.at("electrode_no"))
                         : out.activation_electrode_no + out.output_electrode_no;
  return out;
}

YAML::Node ElectrodeInfo::to_yaml() const {
  YAML::Node activation(YAML::NodeType::Map);
  activation["electrode_no"] = activation_electrode_no;
  activation["voltage_ranges"] = io::to_yaml(io::PyValue::array(voltage_ranges));

  YAML::Node output(YAML::NodeType::Map);
  output["electrode_no"] = output_electrode_no;
  YAML::Node factors(YAML::NodeType::Sequence);
  for (double factor : amplification) factors.push_back(float_node(factor));
  factors.SetStyle(YAML::EmitterStyle::Flow);
  output["amplification"] = factors;
  if (clipping_value) {
    YAML::Node clipping(YAML::NodeType::Sequence);
    clipping.push_back(float_node(clipping_value->first));
    clipping.push_back(float_node(clipping_value->second));
    clipping.SetStyle(YAML::EmitterStyle::Flow);
    output["clipping_value"] = clipping;
  } else {
    output["clipping_value"] = YAML::Node(YAML::NodeType::Null);
  }

  YAML::Node node(YAML::NodeType::Map);
  node["electrode_no"] = electrode_no;
  node["activation_electrodes"] = activation;
  node["output_electrodes"] = output;
  return node;
}

}  // namespace brains::processors
