// RingOptions: brainspy-tasks ring.yaml keys -> typed options.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "brains/algorithms/criteria.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/io/npz.h"
#include "brains/processors/surrogate_file.h"
#include "brains/tasks/ring.h"

namespace brains::tasks {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

Config default_processor_config() {
  return Config::parse("processor_type: simulation\nwaveform:\n  plateau_length: 1\n  slope_length: 0\n",
                       "<default ring processor>");
}

// data.load is `false` or a path.
std::optional<std::filesystem::path> data_load(const Config& data) {
  if (!data.has("load")) return std::nullopt;
  const Config load = data.at("load");
  const std::string text = load.as<std::string>();
  const std::string word = lower(text);
  if (word == "false" || word == "no" || word == "off" || word.empty()) return std::nullopt;
  if (word == "true" || word == "yes" || word == "on")
    throw ConfigError(load.key_path(), "expected false or the path of a saved dataset, got true");
  return std::filesystem::path(text);
}

void set_algorithm(RingOptions& o, const Config& algorithm) {
  std::string name = "gradient";
  if (algorithm.has("type")) {
    name = ring_algorithm_name(algorithm.get<std::string>("type"), algorithm.key_path("type"));
  } else if (algorithm.has("optimizer")) {  // the boolean scripts' spelling (§6.4)
    const std::string optimizer = lower(algorithm.get<std::string>("optimizer"));
    name = optimizer == "adam" ? "gradient"
                               : ring_algorithm_name(optimizer, algorithm.key_path("optimizer"));
  }
  o.algorithm(name);
  const bool genetic = name == "genetic";
  o.criterion(algorithm.get<std::string>("criterion", genetic ? "fisher_fit" : "fisher"));
  const algorithms::Criterion& criterion = algorithms::criterion(o.criterion());
  if (genetic) {
    o.genetic(algorithms::GeneticOptions::from_config(algorithm));
    if (algorithm.has("stop_threshold") && !algorithm.has("stop_on"))
      log::info("{}: compared with the {} fitness (brains-py compared the correlation; set "
                "stop_on: correlation for that)",
                algorithm.key_path("stop_threshold"), o.criterion());
    return;
  }
  if (!criterion.differentiable) {
    std::vector<std::string> usable;
    for (const auto& candidate : algorithms::criterion_names())
      if (algorithms::criterion(candidate).differentiable) usable.push_back(candidate);
    throw ConfigError(algorithm.key_path("criterion"),
                      fmt::format("'{}' is not differentiable, so gradient descent cannot train on "
                                  "it (valid: {})",
                                  o.criterion(), fmt::join(usable, ", ")));
  }
  o.gradient(algorithms::GradientDescentOptions::from_config(algorithm));
}

}  // namespace

std::string ring_algorithm_name(const std::string& name, const std::string& key_path) {
  const std::string word = lower(name);
  if (word == "genetic" || word == "ga") return "genetic";
  if (word == "gradient" || word == "gd") return "gradient";
  throw ConfigError(key_path,
                    fmt::format("unknown algorithm '{}' (valid: genetic or ga, gradient or gd)", name));
}

Config default_ring_algorithm_config(const std::string& algorithm) {
  // brainspy-tasks defaults/algorithms/{ga,gd}/ring.yaml, without the GA's stop_threshold
  // (which only ever worked because brains-py compared it with the correlation).
  if (ring_algorithm_name(algorithm, "algorithm") == "genetic")
    return Config::parse(
        "type: genetic\noptimizer: genetic\ncriterion: fisher_fit\nepochs: 100\npartition: [4, 22]\n",
        "<default ring GA>");
  return Config::parse(
      "type: gradient\nepochs: 400\nlearning_rate: 0.001\ncriterion: fisher\noptimizer: adam\n"
      "constraint_control_voltages: regul\n",
      "<default ring GD>");
}

void RingOptions::validate() const {
  check_gap(gap_);
  if (!data_file_ && (sample_no_ < 2 || sample_no_ % 2 != 0))
    throw ArgumentError(fmt::format(
        "cannot run the ring task: sample_no must be a positive even number, got {}", sample_no_));
  if (runs_ < 1)
    throw ArgumentError(fmt::format("cannot run the ring task: runs must be at least 1, got {}", runs_));
  if (select_by_ != "test" && select_by_ != "validation")
    throw ArgumentError("cannot run the ring task: unknown select_by '" + select_by_ +
                        "' (valid: test, validation)");
  ring_algorithm_name(algorithm_);
  algorithms::criterion(criterion_);
  for (const double g : gaps_) check_gap(g);
  if (gaps_.empty() && !(stop_gap_ > 0 && stop_gap_ <= start_gap_ && start_gap_ < 1))
    throw ArgumentError(fmt::format(
        "cannot run the ring capacity: need 0 < stop_gap <= start_gap < 1, got start_gap {} and "
        "stop_gap {}",
        start_gap_, stop_gap_));
  if (input_indices_.size() != 2)
    throw ArgumentError(fmt::format(
        "cannot run the ring task: processor.input_indices must name 2 electrodes, got [{}]",
        fmt::join(input_indices_, ", ")));
}

Config RingOptions::resolved_config(double gap) const {
  YAML::Node root;
  if (config_) {
    root = YAML::Clone(config_->node());
  } else {
    root["results_dir"] = results_dir_.string();
    root["runs"] = runs_;
    root["select_by"] = select_by_;
    root["start_gap"] = start_gap_;
    root["stop_gap"] = stop_gap_;
    if (!gaps_.empty()) root["gaps"] = gaps_;
    root["data"]["sample_no"] = sample_no_;
    root["data"]["split_percentages"] = split_percentages_;
    root["data"]["load"] = data_file_ ? YAML::Node(data_file_->string()) : YAML::Node(false);
    YAML::Node algorithm = root["algorithm"];
    algorithm["type"] = algorithm_;
    algorithm["criterion"] = criterion_;
    if (algorithm_ == "genetic") {
      algorithm["epochs"] = genetic_.generations();
      algorithm["partition"] = genetic_.partition();
      if (genetic_.stop_threshold()) algorithm["stop_threshold"] = *genetic_.stop_threshold();
    } else {
      algorithm["epochs"] = gradient_.epochs();
      algorithm["learning_rate"] = gradient_.learning_rate();
      algorithm["constraint_control_voltages"] = gradient_.constraint();
      algorithm["batch_size"] = gradient_.batch_size();
    }
    root["processor"] = YAML::Clone(processor_.node());
    root["processor"]["model_dir"] = model_file_.string();
    root["processor"]["input_indices"] = input_indices_;
  }
  root["data"]["gap"] = gap;
  root["seed"] = seed_;
  return Config(root);
}

std::vector<double> RingOptions::capacity_gaps() const {
  if (!gaps_.empty()) return gaps_;
  std::vector<double> out;
  for (double g = start_gap_; g >= stop_gap_; g /= 2) out.push_back(g);
  return out;
}

RingOptions RingOptions::from_config(const Config& configs) {
  configs.warn_unknown_keys({"results_dir", "runs", "start_gap", "stop_gap", "gaps", "seed",
                             "select_by", "data", "accuracy", "algorithm", "processor"});
  RingOptions o;
  o.config(configs);
  o.results_dir(configs.get<std::string>("results_dir", o.results_dir().string()));
  o.runs(configs.get<std::int64_t>("runs", o.runs()));
  o.start_gap(configs.get<double>("start_gap", o.start_gap()));
  o.stop_gap(configs.get<double>("stop_gap", o.stop_gap()));
  o.gaps(configs.get<std::vector<double>>("gaps", o.gaps()));
  o.select_by(configs.get<std::string>("select_by", o.select_by()));
  if (configs.has("seed")) {
    const auto seed = configs.get<std::int64_t>("seed");
    if (seed < 0) throw ConfigError(configs.key_path("seed"), "expected a non-negative integer");
    o.seed(static_cast<std::uint64_t>(seed));
  }
  const Config data = configs.has("data") ? configs.at("data") : Config(YAML::Node(YAML::NodeType::Map), "data");
  data.warn_unknown_keys(
      {"gap", "load", "sample_no", "split_percentages", "batch_size", "worker_no", "pin_memory"});
  o.gap(data.get<double>("gap", o.gap()));
  if (data.has("gap") && !(o.gap() > 0 && o.gap() < 1))
    throw ConfigError(data.key_path("gap"),
                      fmt::format("expected a gap strictly between 0 and 1, got {}", o.gap()));
  o.sample_no(data.get<std::int64_t>("sample_no", o.sample_no()));
  o.split_percentages(data.get<std::vector<double>>("split_percentages", o.split_percentages()));
  o.data_file(data_load(data));
  if (configs.has("accuracy"))
    log::debug("accuracy: the perceptron settings are unused (the exact optimal threshold is used)");

  const Config algorithm =
      configs.has("algorithm") ? configs.at("algorithm") : default_ring_algorithm_config("gradient");
  set_algorithm(o, algorithm);
  // Upstream GD trained in the data loader's batches.
  if (o.algorithm() == "gradient" && !algorithm.has("batch_size") && data.has("batch_size"))
    o.gradient().batch_size(data.get<std::int64_t>("batch_size"));

  const Config processor = configs.has("processor") ? configs.at("processor") : default_processor_config();
  o.model_file(processor.get<std::string>("model_dir", o.model_file().string()));
  o.input_indices(processor.get<std::vector<std::int64_t>>("input_indices", o.input_indices()));
  YAML::Node rest = YAML::Clone(processor.node());
  rest.remove("model_dir");  // ours, not the Processor's
  rest.remove("input_indices");
  o.processor(Config(rest, processor.key_path()));
  o.validate();
  return o;
}

processors::Processor load_ring_processor(const RingOptions& options) {
  const auto surrogate = processors::SurrogateFile::load(options.model_file());
  const Config configs = options.processor().keys().empty() ? default_processor_config() : options.processor();
  return processors::Processor(configs, surrogate.info, surrogate.model_state_dict);
}

RingDataset ring_dataset(const RingOptions& options) {
  if (!options.data_file()) return generate_ring_data(options.sample_no(), options.gap(), options.seed());
  const io::NpzFile file = io::read_npz(*options.data_file());
  RingDataset data;
  data.inputs = file.tensor("inputs").to(at::kFloat);
  data.targets = file.tensor("targets").to(at::kFloat).reshape({-1, 1});
  data.gap = file.contains("gap") ? file.tensor("gap").item<double>() : options.gap();
  data.seed = options.seed();
  check_ring_dataset(data);
  log::info("read {} ring samples (gap {}) from {}", data.inputs.size(0), data.gap,
            options.data_file()->string());
  return data;
}

}  // namespace brains::tasks
