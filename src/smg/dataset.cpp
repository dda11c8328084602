#include "brains/smg/dataset.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/seed.h"
#include "brains/io/npz.h"

namespace brains::smg {

namespace fs = std::filesystem;

namespace {

const char* const kLabels[3] = {"TRAINING", "VALIDATION", "TEST"};

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  return node.IsSequence() ? "a list of " + std::to_string(node.size()) : "a mapping";
}

std::int64_t positive_int(const Config& data, const char* key, std::int64_t fallback) {
  if (!data.has(key)) return fallback;
  const YAML::Node& node = data.at(key).node();
  std::int64_t value = 0;
  if (!node.IsScalar() || !YAML::convert<std::int64_t>::decode(node, value) || value <= 0)
    throw ConfigError(data.key_path(key), "expected a positive integer, got " + describe(node));
  return value;
}

std::vector<double> amplification_of(const io::PyValue& configs, const fs::path& file) {
  const io::PyValue* driver = configs.find("driver");
  const io::PyValue* amplification = driver ? driver->find("amplification") : nullptr;
  if (!amplification)
    throw FormatError(file.string(), "sampling_configs.driver.amplification",
                      "missing (needed to scale the outputs)");
  std::vector<double> out;
  try {
    if (amplification->is_sequence())
      for (const auto& item : amplification->items()) out.push_back(item.as_double());
    else if (amplification->is_tensor_like()) {
      const at::Tensor t = amplification->tensor().to(at::kDouble).contiguous().view({-1});
      out.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    }
    else
      out.push_back(amplification->as_double());
  } catch (const ArgumentError& e) {
    throw FormatError(file.string(), "sampling_configs.driver.amplification", e.what());
  }
  if (out.empty())
    throw FormatError(file.string(), "sampling_configs.driver.amplification", "empty list");
  return out;
}

// A number from a nested dict, or nullopt.
std::optional<double> number_at(const io::PyValue& root, std::initializer_list<const char*> path) {
  const io::PyValue* node = &root;
  for (const char* key : path) {
    node = node->find(key);
    if (!node) return std::nullopt;
  }
  if (node->kind() != io::PyValue::Kind::Int && node->kind() != io::PyValue::Kind::Float)
    return std::nullopt;
  return node->as_double();
}

io::PyValue without(const io::PyValue& dict, const std::string& key) {
  io::PyValue::DictItems kept;
  for (const auto& item : dict.dict_items())
    if (!(item.first.kind() == io::PyValue::Kind::String && item.first.as_string() == key))
      kept.push_back(item);
  return io::PyValue::dict(std::move(kept));
}

DataSplit make_split(int which, const ModelDataset& dataset, const at::Tensor& indices) {
  return {kLabels[which], dataset.inputs.index_select(0, indices).contiguous(),
          dataset.targets.index_select(0, indices).contiguous()};
}

std::string format_list(const std::vector<double>& values) {
  return fmt::format("[{}]", fmt::join(values, ", "));
}

bool same_amplification(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > 1e-9 * std::max(std::abs(a[i]), std::abs(b[i]))) return false;
  return true;
}

}  // namespace

ModelDataset ModelDataset::load(const fs::path& file, std::int64_t steps,
                                const std::string& key_path) {
  if (steps <= 0) throw ArgumentError("cannot load " + file.string() + ": steps must be positive");
  if (!fs::exists(file)) throw ConfigError(key_path, "file not found: " + file.string());
  const io::NpzFile npz = io::read_npz(file);
  ModelDataset out;
  out.file = file;
  const std::string configs_key = npz.contains("sampling_configs") ? "sampling_configs" : "info";
  if (!npz.contains(configs_key))
    throw FormatError(file.string(), "", "cannot load dataset: no 'sampling_configs' entry");
  out.sampling_configs = npz.get(configs_key);
  if (!out.sampling_configs.is_dict())
    throw FormatError(file.string(), configs_key,
                      std::string("cannot load dataset: expected a dict, found ") +
                          out.sampling_configs.kind_name());
  const at::Tensor inputs = npz.tensor("inputs");
  const at::Tensor outputs = npz.tensor("outputs");
  if (inputs.dim() != 2 || outputs.dim() != 2 || inputs.size(0) != outputs.size(0))
    throw FormatError(file.string(), "",
                      "cannot load dataset: expected inputs (N, D) and outputs (N, r), got " +
                          c10::str(inputs.sizes()) + " and " + c10::str(outputs.sizes()));
  out.amplification = amplification_of(out.sampling_configs, file);
  if (out.amplification.size() == 1 && outputs.size(1) > 1)
    out.amplification.assign(outputs.size(1), out.amplification.front());
  if (static_cast<std::int64_t>(out.amplification.size()) != outputs.size(1))
    throw FormatError(file.string(), "sampling_configs.driver.amplification",
                      fmt::format("{} factors for {} output columns", out.amplification.size(),
                                  outputs.size(1)));
  const at::Tensor scale =
      at::tensor(at::ArrayRef<double>(out.amplification), at::kDouble).view({1, -1});
  const at::Tensor in = inputs.slice(0, 0, inputs.size(0), steps);
  const at::Tensor o = outputs.slice(0, 0, outputs.size(0), steps);
  out.inputs = in.to(at::kFloat).contiguous();
  out.targets = (o.to(at::kDouble) / scale).to(at::kFloat).contiguous();
  return out;
}

DataOptions DataOptions::from_config(const Config& data) {
  data.warn_unknown_keys({"dataset_paths", "steps", "batch_size", "worker_no", "pin_memory",
                          "split_percentages", "split_mode", "block_size"});
  DataOptions out;
  const Config paths = data.at("dataset_paths");
  const YAML::Node& node = paths.node();
  if (node.IsScalar()) {
    out.dataset_paths.push_back(fs::path(node.as<std::string>()));
  } else {
    if (!node.IsSequence() || node.size() == 0 || node.size() > 3)
      throw ConfigError(paths.key_path(),
                        "expected a list of 1 to 3 npz paths (training, validation, test), got " +
                            describe(node));
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (node[i].IsNull() || (node[i].IsScalar() && (node[i].Scalar() == "None"))) {
        out.dataset_paths.emplace_back(std::nullopt);
      } else if (node[i].IsScalar()) {
        out.dataset_paths.emplace_back(fs::path(node[i].Scalar()));
      } else {
        throw ConfigError(paths.key_path() + "[" + std::to_string(i) + "]",
                          "expected a path or null, got " + describe(node[i]));
      }
    }
  }
  if (!out.dataset_paths.front())
    throw ConfigError(paths.key_path() + "[0]", "the training dataset path must not be null");

  out.steps = positive_int(data, "steps", out.steps);
  out.batch_size = positive_int(data, "batch_size", out.batch_size);
  if (data.has("block_size")) out.block_size = positive_int(data, "block_size", 1);
  if (data.has("split_mode")) {
    const std::string mode = data.get<std::string>("split_mode");
    if (mode == "random") out.split_mode = SplitMode::random;
    else if (mode == "time_blocks") out.split_mode = SplitMode::time_blocks;
    else
      throw ConfigError(data.key_path("split_mode"),
                        "expected random or time_blocks, got '" + mode + "'");
  }
  if (data.has("split_percentages")) {
    const Config fractions = data.at("split_percentages");
    const YAML::Node& f = fractions.node();
    if (!f.IsSequence() || f.size() == 0 || f.size() > 3)
      throw ConfigError(fractions.key_path(),
                        "expected 1 to 3 fractions (training, validation, test), got " + describe(f));
    out.split_percentages.clear();
    for (std::size_t i = 0; i < f.size(); ++i) {
      double value = 0;
      if (!f[i].IsScalar() || !YAML::convert<double>::decode(f[i], value) || !(value >= 0 && value <= 1))
        throw ConfigError(fractions.key_path() + "[" + std::to_string(i) + "]",
                          "expected a fraction in [0, 1], got " + describe(f[i]));
      out.split_percentages.push_back(value);
    }
    if (out.dataset_paths.size() == 1) {
      const double sum = std::accumulate(out.split_percentages.begin(), out.split_percentages.end(), 0.0);
      if (std::abs(sum - 1.0) > kSplitSumTolerance)
        throw ConfigError(fractions.key_path(),
                          fmt::format("expected fractions summing to 1 (within {}), got {} (sum {})",
                                      kSplitSumTolerance, format_list(out.split_percentages), sum));
    }
  }
  return out;
}

std::vector<std::int64_t> split_lengths(std::int64_t n, const std::vector<double>& fractions) {
  if (fractions.empty() || fractions.size() > 3)
    throw ArgumentError("cannot split: expected 1 to 3 fractions, got " +
                        std::to_string(fractions.size()));
  if (fractions.size() == 1) return {n};
  // A relative slack of 1e-9 keeps 0.7 · 10 = 7.000000000000001 at 7 (upstream's ceil gives 8
  // and its random_split then fails on lengths that do not add up).
  const double slack = 1e-9 * static_cast<double>(std::max<std::int64_t>(n, 1));
  const auto train = std::min<std::int64_t>(
      n, static_cast<std::int64_t>(std::ceil(fractions[0] * static_cast<double>(n) - slack)));
  if (fractions.size() == 2) return {train, n - train};
  const auto valid = std::min<std::int64_t>(
      n - train, static_cast<std::int64_t>(std::floor(fractions[1] * static_cast<double>(n) + slack)));
  return {train, valid, n - train - valid};
}

std::array<at::Tensor, 3> time_block_split(std::int64_t n, std::int64_t block_size,
                                           const std::vector<double>& fractions,
                                           std::uint64_t seed) {
  if (block_size <= 0) throw ArgumentError("cannot split: block size must be positive");
  const std::int64_t blocks = (n + block_size - 1) / block_size;
  const std::vector<std::int64_t> lengths = split_lengths(blocks, fractions);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(make_rng(seed, "time_block_split")());
  const at::Tensor order = at::randperm(blocks, generator, at::kLong);
  std::vector<int> split_of(blocks, 0);
  std::int64_t position = 0;
  for (std::size_t s = 0; s < lengths.size(); ++s)
    for (std::int64_t k = 0; k < lengths[s]; ++k)
      split_of[order[position++].item<std::int64_t>()] = static_cast<int>(s);
  std::array<std::vector<std::int64_t>, 3> rows;
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t begin = b * block_size;
    const std::int64_t end = std::min(n, begin + block_size);
    // The first row after a change of split is dropped: it is the neighbour of the other
    // split's last row.
    const std::int64_t first = (b > 0 && split_of[b] != split_of[b - 1]) ? begin + 1 : begin;
    for (std::int64_t i = first; i < end; ++i) rows[split_of[b]].push_back(i);
  }
  std::array<at::Tensor, 3> out;
  for (int s = 0; s < 3; ++s)
    out[s] = at::tensor(at::ArrayRef<std::int64_t>(rows[s]), at::kLong);
  return out;
}

SurrogateData load_surrogate_data(const DataOptions& options, std::uint64_t seed) {
  if (options.dataset_paths.empty() || !options.dataset_paths.front())
    throw ConfigError("data.dataset_paths", "no training dataset given");
  const auto key = [](std::size_t i) { return "data.dataset_paths[" + std::to_string(i) + "]"; };
  const ModelDataset training = ModelDataset::load(*options.dataset_paths.front(), options.steps, key(0));
  SurrogateData out;
  out.amplification = training.amplification;
  const io::PyValue* info = training.sampling_configs.find("electrode_info");
  if (!info)
    throw FormatError(training.file.string(), "sampling_configs",
                      "no electrode_info (post-process the gathering first: brains postprocess)");
  out.electrode_info = *info;
  out.sampling_configs = without(training.sampling_configs, "electrode_info");

  if (options.dataset_paths.size() > 1) {
    out.splits[0] = DataSplit{kLabels[0], training.inputs, training.targets};
    for (std::size_t i = 1; i < options.dataset_paths.size(); ++i) {
      if (!options.dataset_paths[i]) continue;
      ModelDataset other = ModelDataset::load(*options.dataset_paths[i], options.steps, key(i));
      if (!same_amplification(other.amplification, training.amplification))
        throw ConfigError(key(i), fmt::format("amplification {} of {} differs from the training "
                                              "set's {} ({}): the targets would not be comparable",
                                              format_list(other.amplification), other.file.string(),
                                              format_list(training.amplification),
                                              training.file.string()));
      if (other.inputs.size(1) != training.inputs.size(1) ||
          other.targets.size(1) != training.targets.size(1))
        throw ConfigError(key(i), fmt::format("{} has {} inputs and {} outputs, the training set {} and {}",
                                              other.file.string(), other.inputs.size(1),
                                              other.targets.size(1), training.inputs.size(1),
                                              training.targets.size(1)));
      (i == 1 ? out.validation_sampling_configs : out.test_sampling_configs) = other.sampling_configs;
      out.splits[i] = DataSplit{kLabels[i], other.inputs, other.targets};
    }
  } else {
    const std::int64_t n = training.size();
    std::array<at::Tensor, 3> indices;
    if (options.split_mode == SplitMode::random) {
      const std::vector<std::int64_t> lengths = split_lengths(n, options.split_percentages);
      auto generator = at::make_generator<at::CPUGeneratorImpl>(make_rng(seed, "random_split")());
      const at::Tensor order = at::randperm(n, generator, at::kLong);
      std::int64_t offset = 0;
      for (std::size_t s = 0; s < lengths.size(); ++s) {
        indices[s] = order.narrow(0, offset, lengths[s]);
        offset += lengths[s];
      }
    } else {
      std::int64_t block = 0;
      if (options.block_size) {
        block = *options.block_size;
      } else {
        const auto batch_time = number_at(out.sampling_configs, {"input_data", "batch_time"});
        const auto fs_hz = number_at(out.sampling_configs,
                                     {"driver", "instruments_setup", "activation_sampling_frequency"});
        if (!batch_time || !fs_hz)
          throw ConfigError("data.block_size",
                            "needed for split_mode time_blocks: " + training.file.string() +
                                " does not give input_data.batch_time and activation_sampling_frequency");
        const double rows = std::nearbyint(*batch_time * *fs_hz) / static_cast<double>(options.steps);
        block = std::max<std::int64_t>(2, static_cast<std::int64_t>(std::ceil(rows)));
      }
      indices = time_block_split(n, block, options.split_percentages, seed);
      log::info("time-block split: blocks of {} rows, {} / {} / {} rows", block, indices[0].numel(),
                indices[1].defined() ? indices[1].numel() : 0,
                indices[2].defined() ? indices[2].numel() : 0);
    }
    for (int s = 0; s < 3; ++s) {
      if (!indices[s].defined()) continue;
      if (indices[s].numel() == 0) {
        if (static_cast<std::size_t>(s) < options.split_percentages.size() &&
            options.split_percentages[s] > 0)
          log::warn("the {} split of {} samples came out empty", kLabels[s], n);
        continue;
      }
      out.splits[s] = make_split(s, training, indices[s]);
    }
  }
  if (!out.splits[0] || out.splits[0]->size() == 0)
    throw ConfigError("data.split_percentages", "the training split is empty (" +
                                                    std::to_string(training.size()) + " samples)");
  return out;
}

}  // namespace brains::smg
