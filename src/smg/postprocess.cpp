#include "brains/smg/postprocess.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/io/io_dat.h"
#include "brains/io/npz.h"
#include "brains/io/plot.h"
#include "brains/io/sampler_configs.h"

namespace brains::smg {

namespace fs = std::filesystem;

namespace {

// Typed reads from a sampler_configs.json tree; errors name the file and the key path.
class SamplerConfigs {
 public:
  SamplerConfigs(YAML::Node root, fs::path file) : root_(std::move(root)), file_(std::move(file)) {}

  // The node at a dotted path ("driver.amplification", "a.b.2" for a list item); null when
  // absent. Reads through const references, so nothing is inserted into the tree.
  YAML::Node find(const std::string& dotted) const {
    YAML::Node walk;
    walk.reset(root_);
    std::size_t start = 0;
    for (;;) {
      const std::size_t dot = dotted.find('.', start);
      const std::string key = dotted.substr(start, dot == std::string::npos ? dot : dot - start);
      const YAML::Node& parent = walk;
      const bool index = parent.IsSequence() && !key.empty() &&
                         key.find_first_not_of("0123456789") == std::string::npos &&
                         std::stoul(key) < parent.size();
      if (!parent.IsMap() && !index) return YAML::Node();  // null: absent
      // A missing key gives an invalid node, which reset() refuses: test it first.
      const YAML::Node child = index ? parent[std::stoul(key)] : parent[key];
      if (!child.IsDefined()) return YAML::Node();
      walk.reset(child);
      if (dot == std::string::npos) return walk;
      start = dot + 1;
    }
  }

  bool has(const std::string& dotted) const {
    const YAML::Node node = find(dotted);
    return node.IsDefined() && !node.IsNull();
  }

  YAML::Node at(const std::string& dotted) const {
    YAML::Node node = find(dotted);
    if (!node.IsDefined() || node.IsNull()) fail(dotted, "missing (needed to post-process)");
    return node;
  }

  double number(const std::string& dotted) const {
    const YAML::Node node = at(dotted);
    double value = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value))
      fail(dotted, "expected a finite number, got " + describe(node));
    return value;
  }

  std::int64_t positive_int(const std::string& dotted) const {
    const YAML::Node node = at(dotted);
    std::int64_t value = 0;
    if (!node.IsScalar() || !YAML::convert<std::int64_t>::decode(node, value) || value <= 0)
      fail(dotted, "expected a positive integer, got " + describe(node));
    return value;
  }

  std::vector<double> numbers(const std::string& dotted, std::size_t count) const {
    const YAML::Node node = at(dotted);
    if (!node.IsSequence() || node.size() != count)
      fail(dotted, "expected a list of " + std::to_string(count) + " numbers, got " + describe(node));
    std::vector<double> out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      double value = 0;
      if (!node[i].IsScalar() || !YAML::convert<double>::decode(node[i], value) ||
          !std::isfinite(value))
        fail(dotted + "[" + std::to_string(i) + "]",
             "expected a finite number, got " + describe(node[i]));
      out.push_back(value);
    }
    return out;
  }

  [[noreturn]] void fail(const std::string& dotted, const std::string& message) const {
    throw FormatError(file_.string(), dotted, message);
  }

  static std::string describe(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return "null";
    if (node.IsScalar()) return "'" + node.Scalar() + "'";
    return node.IsSequence() ? "a list of " + std::to_string(node.size()) : "a mapping";
  }

 private:
  YAML::Node root_;
  fs::path file_;
};

// The sampler configs as a Python dict, with amplitude and offset as float64 numpy arrays
// (as brainspy-smg stores them), and without electrode_info.
io::PyValue configs_value(const YAML::Node& configs, const Gathering& gathering) {
  io::PyValue value = io::from_yaml(configs);
  if (!value.is_dict()) return value;
  io::PyValue::DictItems kept;
  for (const auto& item : value.dict_items())
    if (!(item.first.kind() == io::PyValue::Kind::String && item.first.as_string() == "electrode_info"))
      kept.push_back(item);
  value = io::PyValue::dict(std::move(kept));
  if (const io::PyValue* input_data = value.find("input_data"); input_data && input_data->is_dict()) {
    io::PyValue copy = io::PyValue::dict(input_data->dict_items());
    const auto as_array = [](const std::vector<double>& values) {
      return io::PyValue::array(at::tensor(at::ArrayRef<double>(values), at::kDouble));
    };
    if (copy.find("amplitude")) copy.set("amplitude", as_array(gathering.amplitude));
    if (copy.find("offset")) copy.set("offset", as_array(gathering.offset));
    value.set("input_data", copy);
  }
  return value;
}

io::PyValue float_list(const std::vector<double>& values) {
  io::PyValue::Items items;
  for (double v : values) items.push_back(io::PyValue::floating(v));
  return io::PyValue::list(std::move(items));
}

io::PyValue electrode_info_value(const Gathering& gathering, const YAML::Node& amplification_node,
                                 const at::Tensor& voltage_ranges,
                                 const std::optional<std::pair<double, double>>& clipping,
                                 const ClippingValue& clipping_value) {
  const std::int64_t inputs = gathering.inputs.size(1);
  const std::int64_t outputs = gathering.outputs.size(1);
  io::PyValue activation = io::PyValue::dict();
  activation.set("electrode_no", io::PyValue::integer(inputs));
  activation.set("voltage_ranges", io::PyValue::array(voltage_ranges));
  io::PyValue output = io::PyValue::dict();
  output.set("electrode_no", io::PyValue::integer(outputs));
  // The amplification as the configs spell it (a list, as brains-py requires).
  output.set("amplification", amplification_node.IsSequence() ? io::from_yaml(amplification_node)
                                                              : float_list(gathering.amplification));
  if (!clipping) {
    output.set("clipping_value", io::PyValue::none());
  } else if (clipping_value.kind == ClippingValue::Kind::default_window) {
    output.set("clipping_value", float_list({clipping->first, clipping->second}));
  } else {
    // Whole numbers stay ints, as a user's [-4, 4] does in Python.
    const auto number = [](double v) {
      return v == std::trunc(v) && std::abs(v) < 9e15 ? io::PyValue::integer(static_cast<std::int64_t>(v))
                                                      : io::PyValue::floating(v);
    };
    output.set("clipping_value", io::PyValue::list({number(clipping->first), number(clipping->second)}));
  }
  io::PyValue info = io::PyValue::dict();
  info.set("electrode_no", io::PyValue::integer(inputs + outputs));
  info.set("activation_electrodes", activation);
  info.set("output_electrodes", output);
  return info;
}

void save_signal(const fs::path& file, const at::Tensor& inputs, const at::Tensor& outputs,
                 const io::PyValue& configs) {
  io::write_npz(file, io::NpzEntries{{"inputs", io::PyValue::array(inputs)},
                                     {"outputs", io::PyValue::array(outputs)},
                                     {"sampling_configs", configs}});
}

std::vector<double> values_of(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous().view({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

void log_ranges(const at::Tensor& inputs, const at::Tensor& outputs, const fs::path& dir) {
  if (inputs.size(0) == 0) return;
  log::info("{}: output scale [{:.6g}, {:.6g}] nA", dir.string(), outputs.min().item<double>(),
            outputs.max().item<double>());
  const auto [low, unused_low] = inputs.min(0);
  const auto [high, unused_high] = inputs.max(0);
  log::info("{}: input minimum per electrode [{:.5g}] V, maximum [{:.5g}] V", dir.string(),
            fmt::join(values_of(low), ", "), fmt::join(values_of(high), ", "));
}

}  // namespace

ClippingValue ClippingValue::window(double low, double high) {
  if (!(low < high))
    throw ConfigError("clipping_value", fmt::format("expected [low, high] with low < high, got [{}, {}]", low, high));
  return {Kind::window, low, high};
}

ClippingValue ClippingValue::from_config(const Config& value) {
  const YAML::Node& node = value.node();
  if (!node.IsDefined() || node.IsNull()) return none();
  if (node.IsScalar() && node.Scalar() == "default") return {};
  if (node.IsScalar() && (node.Scalar() == "none" || node.Scalar() == "None")) return none();
  double low = 0, high = 0;
  if (!node.IsSequence() || node.size() != 2 || !YAML::convert<double>::decode(node[0], low) ||
      !YAML::convert<double>::decode(node[1], high) || std::isnan(low) || std::isnan(high))
    throw ConfigError(value.key_path(),
                      "expected 'default', null or [low, high] in nA, got " +
                          SamplerConfigs::describe(node));
  if (!(low < high))
    throw ConfigError(value.key_path(),
                      fmt::format("expected [low, high] with low < high, got [{}, {}]", low, high));
  return {Kind::window, low, high};
}

std::optional<std::pair<double, double>> ClippingValue::resolve(
    const std::vector<double>& amplification) const {
  switch (kind) {
    case Kind::none: return std::nullopt;
    case Kind::window: return std::make_pair(low, high);
    case Kind::default_window: {
      double largest = 0;
      for (double a : amplification) largest = std::max(largest, std::abs(a));
      return std::make_pair(-4.0 * largest, 4.0 * largest);
    }
  }
  return std::nullopt;
}

PostprocessOptions PostprocessOptions::from_config(const Config& configs) {
  PostprocessOptions out;
  if (configs.contains("clipping_value"))  // null is a value here: no clipping
    out.clipping_value = ClippingValue::from_config(
        Config(configs.node()["clipping_value"], configs.key_path("clipping_value")));
  const auto batches = [&](const char* key, std::int64_t fallback) {
    const auto value = configs.get<std::int64_t>(key, fallback);
    if (value < 0) throw ConfigError(configs.key_path(key), "expected a number of batches >= 0, got " + std::to_string(value));
    return value;
  };
  out.charging_signal_batch_no = batches("charging_signal_batch_no", out.charging_signal_batch_no);
  out.reference_signal_batch_no = batches("reference_signal_batch_no", out.reference_signal_batch_no);
  out.exclude_reference_batches = configs.get<bool>("exclude_reference_batches", false);
  out.filename = configs.get<std::string>("filename", out.filename);
  if (out.filename.empty() || out.filename.find('/') != std::string::npos)
    throw ConfigError(configs.key_path("filename"), "expected a file name without folders, got '" + out.filename + "'");
  out.plot = configs.get<bool>("plot", true);
  return out;
}

at::Tensor voltage_ranges_float32(const std::vector<double>& offset,
                                  const std::vector<double>& amplitude) {
  const at::Tensor o = at::tensor(at::ArrayRef<double>(offset), at::kDouble).to(at::kFloat);
  const at::Tensor a = at::tensor(at::ArrayRef<double>(amplitude), at::kDouble).to(at::kFloat);
  return at::stack({o - a, o + a}, 1).contiguous();
}

Gathering load_gathering(const fs::path& dir) {
  if (!fs::is_directory(dir))
    throw ArgumentError("cannot post-process " + dir.string() + ": not a folder");
  const fs::path config_file = dir / "sampler_configs.json";
  if (!fs::exists(config_file))
    throw FormatError(config_file.string(), "", "cannot post-process: file not found");
  Gathering g;
  g.dir = dir;
  g.configs = io::read_sampler_configs(config_file);
  const SamplerConfigs configs(g.configs, config_file);

  const std::int64_t inputs = configs.positive_int("input_data.activation_electrode_no");
  const std::int64_t outputs = configs.positive_int("input_data.readout_electrode_no");
  const double fs_hz = configs.number("driver.instruments_setup.activation_sampling_frequency");
  const double batch_time_s = configs.number("input_data.batch_time");
  const double points = batch_time_s * fs_hz;
  if (!(points >= 1) || std::abs(points - std::nearbyint(points)) > 1e-6 * points)
    configs.fail("input_data.batch_time",
                 fmt::format("batch_time × activation_sampling_frequency = {} × {} = {} is not a "
                             "whole number of samples",
                             batch_time_s, fs_hz, points));
  g.batch_length = static_cast<std::int64_t>(std::nearbyint(points));
  g.expected_batches = configs.positive_int("input_data.number_batches");

  const YAML::Node amplification = configs.at("driver.amplification");
  g.amplification = amplification.IsSequence()
                        ? configs.numbers("driver.amplification", static_cast<std::size_t>(outputs))
                        : std::vector<double>(outputs, configs.number("driver.amplification"));
  if (configs.has("input_data.amplitude") || configs.has("input_data.offset")) {
    g.amplitude = configs.numbers("input_data.amplitude", static_cast<std::size_t>(inputs));
    g.offset = configs.numbers("input_data.offset", static_cast<std::size_t>(inputs));
  } else {  // the sampler derives both from the ranges (spec §2.1)
    const YAML::Node ranges = configs.at("driver.instruments_setup.activation_voltage_ranges");
    if (!ranges.IsSequence() || static_cast<std::int64_t>(ranges.size()) != inputs)
      configs.fail("driver.instruments_setup.activation_voltage_ranges",
                   "expected " + std::to_string(inputs) + " [min, max] rows, got " +
                       SamplerConfigs::describe(ranges));
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const auto row = configs.numbers(
          "driver.instruments_setup.activation_voltage_ranges." + std::to_string(i), 2);
      g.amplitude.push_back((row[1] - row[0]) / 2);
      g.offset.push_back((row[1] + row[0]) / 2);
    }
  }

  const fs::path data_file = dir / "IO.dat";
  io::IoData data = io::read_io_dat(data_file, inputs, outputs);
  g.raw_samples = data.inputs.size(0);
  const std::int64_t expected = g.expected_batches * g.batch_length;
  if (g.raw_samples > expected)
    throw FormatError(data_file.string(), "",
                      fmt::format("cannot post-process: {} rows, more than number_batches × batch "
                                  "length = {} × {} = {} in {}",
                                  g.raw_samples, g.expected_batches, g.batch_length, expected,
                                  config_file.string()));
  g.batches = g.raw_samples / g.batch_length;
  if (g.batches == 0)
    throw FormatError(data_file.string(), "",
                      fmt::format("cannot post-process: {} rows, not one complete batch of {}",
                                  g.raw_samples, g.batch_length));
  const std::int64_t whole = g.batches * g.batch_length;
  if (whole < g.raw_samples)
    log::warn("{}: dropping a trailing partial batch of {} rows", data_file.string(),
              g.raw_samples - whole);
  if (g.batches < g.expected_batches)
    log::warn("{}: partial gathering, {} of {} batches; post-processing the complete ones",
              data_file.string(), g.batches, g.expected_batches);
  g.inputs = data.inputs.narrow(0, 0, whole);
  g.outputs = data.outputs.narrow(0, 0, whole);
  return g;
}

PostprocessResult postprocess(const std::vector<fs::path>& data_dirs,
                              const PostprocessOptions& options, const fs::path& output_dir) {
  if (data_dirs.empty()) throw ArgumentError("cannot post-process: no data folder given");
  if (output_dir.empty() && data_dirs.size() > 1)
    throw ArgumentError("cannot merge " + std::to_string(data_dirs.size()) +
                        " gatherings: give an output folder");
  const fs::path out_dir = output_dir.empty() ? data_dirs.front() : output_dir;
  fs::create_directories(out_dir);

  std::vector<Gathering> gatherings;
  for (const auto& dir : data_dirs) gatherings.push_back(load_gathering(dir));
  const Gathering& first = gatherings.front();
  for (std::size_t i = 1; i < gatherings.size(); ++i) {
    const Gathering& g = gatherings[i];
    if (g.inputs.size(1) != first.inputs.size(1) || g.outputs.size(1) != first.outputs.size(1))
      throw ArgumentError(fmt::format(
          "cannot merge {} with {}: {} inputs and {} outputs against {} and {}", g.dir.string(),
          first.dir.string(), g.inputs.size(1), g.outputs.size(1), first.inputs.size(1),
          first.outputs.size(1)));
    if (g.amplification != first.amplification)
      throw ArgumentError(fmt::format("cannot merge {} with {}: amplification [{}] differs from [{}]",
                                      g.dir.string(), first.dir.string(),
                                      fmt::join(g.amplification, ", "),
                                      fmt::join(first.amplification, ", ")));
  }
  const auto clipping = options.clipping_value.resolve(first.amplification);

  PostprocessResult result;
  std::vector<at::Tensor> kept_inputs, kept_outputs, raw_outputs;
  at::Tensor ranges;
  for (const Gathering& g : gatherings) {
    const io::PyValue configs = configs_value(g.configs, g);
    const std::int64_t n = g.inputs.size(0);
    result.raw_samples += g.raw_samples;
    log::info("{}: batch length {}, {} raw samples, {} complete batches", g.dir.string(),
              g.batch_length, g.raw_samples, g.batches);
    log_ranges(g.inputs, g.outputs, g.dir);

    // Upstream takes the last batches; more than there are means all of them.
    const auto tail = [&](std::int64_t batches) { return std::min(n, batches * g.batch_length); };
    const std::int64_t charging = tail(options.charging_signal_batch_no);
    const std::int64_t reference = tail(options.reference_signal_batch_no);
    save_signal(g.dir / "charging_signal.npz", g.inputs.narrow(0, n - charging, charging),
                g.outputs.narrow(0, n - charging, charging), configs);
    save_signal(g.dir / "reference_batch.npz", g.inputs.narrow(0, n - reference, reference),
                g.outputs.narrow(0, n - reference, reference), configs);

    std::int64_t training = n;
    if (options.exclude_reference_batches) {
      training = n - reference;
      if (training <= 0)
        throw ConfigError("exclude_reference_batches",
                          fmt::format("{}: the {} reference batches are all {} batches; nothing "
                                      "would be left to train on",
                                      g.dir.string(), options.reference_signal_batch_no, g.batches));
      log::info("{}: the last {} rows (reference batches) are kept out of the training data",
                g.dir.string(), reference);
    }
    at::Tensor in = g.inputs.narrow(0, 0, training);
    at::Tensor out = g.outputs.narrow(0, 0, training);
    result.candidate_samples += training;
    if (clipping) {
      const at::Tensor mean = out.mean(1);
      const at::Tensor keep = (mean > clipping->first).logical_and(mean < clipping->second);
      in = in.index({keep});
      out = out.index({keep});
    }
    kept_inputs.push_back(in);
    kept_outputs.push_back(out);
    raw_outputs.push_back(g.outputs);

    at::Tensor r = voltage_ranges_float32(g.offset, g.amplitude);
    if (!ranges.defined()) {
      ranges = r;
    } else if (!at::equal(ranges, r)) {
      log::warn("{}: voltage ranges differ from {}'s; electrode_info holds the envelope of both",
                g.dir.string(), first.dir.string());
      ranges = at::stack({at::minimum(ranges.select(1, 0), r.select(1, 0)),
                          at::maximum(ranges.select(1, 1), r.select(1, 1))},
                         1);
    }
  }

  result.inputs = at::cat(kept_inputs, 0).contiguous();
  result.outputs = at::cat(kept_outputs, 0).contiguous();
  result.kept_samples = result.inputs.size(0);
  result.cropped_percent =
      result.candidate_samples == 0
          ? 0.0
          : (1.0 - static_cast<double>(result.kept_samples) / result.candidate_samples) * 100.0;
  if (clipping)
    log::info("clipping window [{}, {}] nA: {:.4g}% of points cropped ({} of {} kept)",
              clipping->first, clipping->second, result.cropped_percent, result.kept_samples,
              result.candidate_samples);
  if (result.kept_samples == 0)
    log::warn("post-processing kept no samples: check the clipping window");

  io::PyValue configs = configs_value(first.configs, first);
  configs.set("electrode_info",
              electrode_info_value(first, SamplerConfigs(first.configs, "").find("driver.amplification"),
                                   ranges, clipping, options.clipping_value));
  if (gatherings.size() > 1) {
    io::PyValue::Items merged;
    for (const Gathering& g : gatherings) {
      io::PyValue item = io::PyValue::dict();
      item.set("dir", io::PyValue::string(g.dir.string()));
      item.set("batches", io::PyValue::integer(g.batches));
      merged.push_back(item);
    }
    configs.set("merged_gatherings", io::PyValue::list(std::move(merged)));
  }
  result.sampling_configs = configs;

  std::string name = options.filename;
  if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npz") != 0) name += ".npz";
  result.file = out_dir / name;
  save_signal(result.file, result.inputs, result.outputs, configs);
  log::info("wrote {} ({} samples)", result.file.string(), result.kept_samples);

  if (options.plot) {
    io::PlotSpec spec("Output Histogram");
    spec.kind = io::PlotKind::histogram;
    spec.bins = 100;
    spec.xlabel = "Raw output (nA)";
    spec.ylabel = "Counts";
    const at::Tensor all = at::cat(raw_outputs, 0);
    const at::Tensor every_third = all.slice(0, 0, all.size(0), 3);
    for (std::int64_t j = 0; j < all.size(1); ++j)
      spec.add({all.size(1) == 1 ? "output" : "output " + std::to_string(j), {},
                values_of(every_third.select(1, j)), std::nullopt});
    io::plot(out_dir / "output_distribution.png", spec);
  }
  return result;
}

}  // namespace brains::smg
