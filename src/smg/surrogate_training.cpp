#include "brains/smg/surrogate_training.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "brains/io/plot.h"
#include "brains/io/torch_file.h"
#include "brains/processors/state_dict.h"
#include "brains/smg/mlp_trainer.h"

namespace brains::smg {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxPlotPoints = 20000;  // scatter plots and their CSVs stay small

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  return node.IsSequence() ? "a list of " + std::to_string(node.size()) : "a mapping";
}

double number(const Config& section, const char* key, double fallback, double low, double high,
              bool low_inclusive) {
  if (!section.has(key)) return fallback;
  const YAML::Node& node = section.at(key).node();
  double value = 0;
  const bool ok = node.IsScalar() && YAML::convert<double>::decode(node, value) &&
                  (low_inclusive ? value >= low : value > low) && value <= high;
  if (!ok)
    throw ConfigError(section.key_path(key),
                      fmt::format("expected a number in {}{}, {}], got {}", low_inclusive ? "[" : "(",
                                  low, high, describe(node)));
  return value;
}

std::int64_t integer(const Config& section, const char* key, std::int64_t fallback, std::int64_t low) {
  if (!section.has(key)) return fallback;
  const YAML::Node& node = section.at(key).node();
  std::int64_t value = 0;
  if (!node.IsScalar() || !YAML::convert<std::int64_t>::decode(node, value) || value < low)
    throw ConfigError(section.key_path(key),
                      fmt::format("expected an integer >= {}, got {}", low, describe(node)));
  return value;
}

std::vector<double> values_of(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kDouble).contiguous().view({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// Numpy arrays become plain lists, so the file loads with torch.load(weights_only=True) and
// in brains-py (TorchUtils.format accepts lists).
io::PyValue plain(const io::PyValue& value) { return io::from_yaml(io::to_yaml(value)); }

io::PyValue loss_tensor(const std::vector<double>& values) {
  at::Tensor t = at::tensor(at::ArrayRef<double>(values), at::kDouble).to(at::kFloat);
  return io::PyValue::tensor(t.view({-1, 1}));
}

at::Tensor amplification_row(const std::vector<double>& amplification) {
  return at::tensor(at::ArrayRef<double>(amplification), at::kDouble).view({1, -1});
}

at::Tensor predict(processors::NeuralNetworkModel& model, const at::Tensor& inputs) {
  at::NoGradGuard no_grad;
  return model->forward(inputs);
}

// RMSE in nA of predictions against targets (both in network units).
double rmse_na(const at::Tensor& predictions, const at::Tensor& targets,
               const std::vector<double>& amplification) {
  const at::Tensor error = (targets.to(at::kDouble) - predictions.to(at::kDouble)) *
                           amplification_row(amplification);
  return std::sqrt(error.square().mean().item<double>());
}

std::vector<double> every(const std::vector<double>& values, std::size_t stride) {
  std::vector<double> out;
  for (std::size_t i = 0; i < values.size(); i += stride) out.push_back(values[i]);
  return out;
}

void plot_split(const fs::path& dir, const SplitMetrics& metrics, const at::Tensor& predictions_na,
                const at::Tensor& targets_na) {
  const std::vector<double> truth = values_of(targets_na);
  const std::vector<double> predicted = values_of(predictions_na);
  std::vector<double> error(truth.size());
  for (std::size_t i = 0; i < truth.size(); ++i) error[i] = truth[i] - predicted[i];
  const std::size_t stride =
      std::max<std::size_t>(1, (truth.size() + kMaxPlotPoints - 1) / kMaxPlotPoints);
  const double low = std::min(*std::min_element(truth.begin(), truth.end()),
                              *std::min_element(predicted.begin(), predicted.end()));
  const double high = std::max(*std::max_element(truth.begin(), truth.end()),
                               *std::max_element(predicted.begin(), predicted.end()));

  io::PlotSpec scatter(fmt::format("{}: RMSE {:.4g} nA ({:.3g}% of range), R² {:.4f}", metrics.label,
                                   metrics.rmse_na, metrics.rmse_percent_of_range, metrics.r2));
  scatter.kind = io::PlotKind::scatter;
  scatter.xlabel = "True output (nA)";
  scatter.ylabel = "Predicted output (nA)";
  scatter.add({"samples", every(truth, stride), every(predicted, stride), std::nullopt});
  scatter.add({"y = x", {low, high}, {low, high}, io::PlotKind::line});
  io::PlotSpec histogram("Error histogram (nA)");
  histogram.kind = io::PlotKind::histogram;
  histogram.bins = 500;
  histogram.xlabel = "Error (nA)";
  histogram.ylabel = "Counts";
  const double spread = std::max(std::abs(*std::min_element(error.begin(), error.end())),
                                 std::abs(*std::max_element(error.begin(), error.end())));
  if (spread > 0) histogram.xrange = std::make_pair(-0.25 * spread, 0.25 * spread);
  histogram.add({"error", {}, error, std::nullopt});
  io::plot_grid(dir / (metrics.label + "_error.png"), 1, 2, {scatter, histogram});

  io::PlotSpec versus("Error vs Output");
  versus.kind = io::PlotKind::scatter;
  versus.xlabel = "Output (nA)";
  versus.ylabel = "Error (nA)";
  versus.add({"error", every(truth, stride), every(error, stride), std::nullopt});
  versus.add({"zero", {low, high}, {0.0, 0.0}, io::PlotKind::line});
  io::plot(dir / (metrics.label + "_error_vs_output.png"), versus);
}

void plot_profile(const fs::path& dir, const TrainingResult& result,
                  const std::optional<double>& test_rmse) {
  io::PlotSpec spec(test_rmse ? fmt::format("Training profile, test RMSE {:.4g} nA", *test_rmse)
                              : std::string("Training profile"));
  spec.xlabel = "Epoch no.";
  spec.ylabel = "RMSE (nA)";
  std::vector<double> epochs;
  for (std::size_t e = 0; e < result.train_rmse_na.size(); ++e) epochs.push_back(static_cast<double>(e));
  spec.add({"training", epochs, result.train_rmse_na, std::nullopt});
  if (!result.val_rmse_na.empty()) spec.add({"validation", epochs, result.val_rmse_na, std::nullopt});
  if (test_rmse && !epochs.empty())
    spec.add({"test", {epochs.front(), epochs.back()}, {*test_rmse, *test_rmse}, std::nullopt});
  io::plot(dir / "training_profile.png", spec);
}

nlohmann::json metrics_json(const SplitMetrics& m) {
  const auto finite = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"samples", m.samples},
          {"mse_na2", finite(m.mse_na2)},
          {"rmse_na", finite(m.rmse_na)},
          {"output_range_na", finite(m.output_range_na)},
          {"rmse_percent_of_range", finite(m.rmse_percent_of_range)},
          {"r2", finite(m.r2)},
          {"mae_na", finite(m.mae_na)},
          {"max_error_na", finite(m.max_error_na)},
          {"rmse_per_output_na", m.rmse_per_output_na}};
}

struct Checkpoint {
  io::PyValue info;
  std::int64_t epoch = 0;
  std::vector<double> train, val;
  std::optional<double> min_val;
  std::optional<double> test;
};

void save_model_file(const fs::path& file, const Checkpoint& checkpoint, MlpTrainer& trainer,
                     const MlpTrainer::Snapshot& snapshot) {
  io::PyValue state = io::PyValue::dict({}, true);
  const auto names = trainer.model()->named_parameters();
  for (std::size_t i = 0; i < names.size(); ++i)
    state.dict_items().emplace_back(io::PyValue::string(names[i].key()),
                                    io::PyValue::tensor(snapshot.parameters[i].detach().contiguous()));
  io::PyValue content = io::PyValue::dict();
  content.set("epoch", io::PyValue::integer(checkpoint.epoch));
  content.set("model_state_dict", state);
  content.set("info", checkpoint.info);
  content.set("optimizer_state_dict", trainer.optimizer_state_dict(snapshot));
  content.set("train_losses", loss_tensor(checkpoint.train));
  content.set("val_losses", loss_tensor(checkpoint.val));
  content.set("min_val_loss",
              checkpoint.min_val
                  ? io::PyValue::tensor(at::tensor({static_cast<float>(*checkpoint.min_val)}))
                  : io::PyValue::floating(std::numeric_limits<double>::infinity()));
  if (checkpoint.test)
    content.set("test_loss", io::PyValue::tensor(at::tensor({static_cast<float>(*checkpoint.test)})));
  io::save_torch_file(file, content);
}

}  // namespace

TrainingOptions TrainingOptions::from_config(const Config& configs) {
  configs.warn_unknown_keys(
      {"results_base_dir", "main_folder", "seed", "model_structure", "hyperparameters", "data", "plots"});
  TrainingOptions out;
  out.configs = Config(YAML::Clone(configs.node()), configs.key_path());
  out.results_base_dir = configs.get<std::string>("results_base_dir", out.results_base_dir.string());
  out.main_folder = configs.get<std::string>("main_folder", out.main_folder);
  if (configs.has("seed")) out.seed = static_cast<std::uint64_t>(integer(configs, "seed", 0, 0));
  out.model_structure = processors::ModelStructure::from_config(configs.at("model_structure"));
  if (const auto hyper = configs.find("hyperparameters")) {
    hyper->warn_unknown_keys({"epochs", "learning_rate", "betas", "eps", "patience", "min_delta"});
    out.epochs = integer(*hyper, "epochs", out.epochs, 1);
    out.learning_rate = number(*hyper, "learning_rate", out.learning_rate, 0, 1e6, true);
    if (hyper->has("betas")) {
      const Config betas = hyper->at("betas");
      double b1 = 0, b2 = 0;
      const YAML::Node& node = betas.node();
      if (!node.IsSequence() || node.size() != 2 || !YAML::convert<double>::decode(node[0], b1) ||
          !YAML::convert<double>::decode(node[1], b2) || !(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1))
        throw ConfigError(betas.key_path(), "expected [beta1, beta2], each in [0, 1), got " + describe(node));
      out.beta1 = b1;
      out.beta2 = b2;
    }
    out.eps = number(*hyper, "eps", out.eps, 0, 1, true);
    out.patience = integer(*hyper, "patience", out.patience, 0);
    out.min_delta = number(*hyper, "min_delta", out.min_delta, 0, 1e12, true);
  }
  out.data = DataOptions::from_config(configs.at("data"));
  out.plots = configs.get<bool>("plots", true);
  return out;
}

SplitMetrics split_metrics(const std::string& label, const at::Tensor& predictions,
                           const at::Tensor& targets, const std::vector<double>& amplification) {
  const at::Tensor scale = amplification_row(amplification);
  const at::Tensor truth = targets.to(at::kDouble) * scale;
  const at::Tensor predicted = predictions.to(at::kDouble) * scale;
  const at::Tensor error = truth - predicted;
  SplitMetrics m;
  m.label = label;
  m.samples = truth.size(0);
  if (m.samples == 0) return m;
  m.mse_na2 = error.square().mean().item<double>();
  m.rmse_na = std::sqrt(m.mse_na2);
  m.output_range_na = (truth.max() - truth.min()).item<double>();
  m.rmse_percent_of_range = m.output_range_na > 0 ? 100.0 * m.rmse_na / m.output_range_na
                                                  : std::numeric_limits<double>::quiet_NaN();
  const double total = (truth - truth.mean(0, true)).square().sum().item<double>();
  m.r2 = total > 0 ? 1.0 - error.square().sum().item<double>() / total
                   : std::numeric_limits<double>::quiet_NaN();
  m.mae_na = error.abs().mean().item<double>();
  m.max_error_na = error.abs().max().item<double>();
  m.rmse_per_output_na = values_of(error.square().mean(0).sqrt());
  return m;
}

TrainingResult train_surrogate(const TrainingOptions& options) {
  TrainingResult result;
  result.seed = seed_everything(options.seed);
  const SurrogateData data = load_surrogate_data(options.data, result.seed);
  const DataSplit& train = *data.splits[0];
  const auto& structure = options.model_structure;
  if (train.inputs.size(1) != structure.d_in)
    throw ConfigError("model_structure.D_in",
                      fmt::format("is {} but the training data has {} input columns", structure.d_in,
                                  train.inputs.size(1)));
  if (train.targets.size(1) != structure.d_out)
    throw ConfigError("model_structure.D_out",
                      fmt::format("is {} but the training data has {} output columns", structure.d_out,
                                  train.targets.size(1)));

  result.run_dir = create_run_directory(options.results_base_dir, options.main_folder);
  result.model_file = result.run_dir / "training_data.pt";
  log::FileSink sink(result.run_dir / "run.log");

  // The resolved config, with the seed used (spec §1.6: init_seed writes it back).
  Config resolved(YAML::Clone(options.configs.node()));
  YAML::Node root = resolved.node();
  root["seed"] = result.seed;
  resolved.save(result.run_dir / "config.yaml");

  processors::NeuralNetworkModel model(structure);
  MlpTrainer trainer(model, algorithms::AdamSettings{options.learning_rate, options.beta1, options.beta2,
                                                     options.eps, 0.0, false},
                     MlpTrainerOptions{options.threads, options.fused});
  result.fused = trainer.fused();

  Checkpoint checkpoint;
  {
    io::PyValue training_configs = io::from_yaml(root);
    io::PyValue::DictItems kept;
    for (const auto& item : training_configs.dict_items())
      if (!(item.first.kind() == io::PyValue::Kind::String && item.first.as_string() == "model_structure"))
        kept.push_back(item);
    io::PyValue info = io::PyValue::dict();
    info.set("model_structure", io::from_yaml(structure.to_yaml()));
    info.set("electrode_info", data.electrode_info);
    info.set("training_configs", io::PyValue::dict(std::move(kept)));
    info.set("sampling_configs", data.sampling_configs);
    if (data.validation_sampling_configs) info.set("validation_sampling_configs", *data.validation_sampling_configs);
    if (data.test_sampling_configs) info.set("test_sampling_configs", *data.test_sampling_configs);
    checkpoint.info = plain(info);
  }

  const std::optional<DataSplit>& validation = data.splits[1];
  const std::int64_t n = train.size();
  const std::int64_t batch = options.data.batch_size;
  // One effective factor for the training RMSE in nA (exact for one output).
  double amplification_rms = 0;
  for (double a : data.amplification) amplification_rms += a * a;
  amplification_rms = std::sqrt(amplification_rms / static_cast<double>(data.amplification.size()));

  std::ostringstream description;
  model->pretty_print(description);
  log::info("training {} on {} samples ({} validation, {} test), batch {}, {} epochs, {} path on {} thread(s)",
            description.str(), n, validation ? validation->size() : 0,
            data.splits[2] ? data.splits[2]->size() : 0, batch, options.epochs,
            trainer.fused() ? "fused" : "autograd", trainer.threads());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(make_rng(result.seed, "shuffle")());
  double best = std::numeric_limits<double>::infinity();
  std::int64_t since_best = 0;
  MlpTrainer::Snapshot best_snapshot;
  double step_seconds = 0;
  std::int64_t samples_stepped = 0;
  {
    ProgressBar progress("training", options.epochs);
    for (std::int64_t epoch = 0; epoch < options.epochs; ++epoch) {
      const at::Tensor order = at::randperm(n, generator, at::kLong);
      const at::Tensor inputs = train.inputs.index_select(0, order);
      const at::Tensor targets = train.targets.index_select(0, order);
      double squared = 0;
      const auto start = std::chrono::steady_clock::now();
      for (std::int64_t begin = 0; begin < n; begin += batch) {
        throw_if_interrupted("surrogate training");
        const std::int64_t rows = std::min(batch, n - begin);
        squared += trainer.step(inputs.narrow(0, begin, rows), targets.narrow(0, begin, rows)) *
                   static_cast<double>(rows);
      }
      step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      samples_stepped += n;
      result.train_rmse_na.push_back(std::sqrt(squared / static_cast<double>(n)) * amplification_rms);
      std::string status = fmt::format("train {:.4g} nA", result.train_rmse_na.back());
      result.epochs_run = epoch + 1;
      if (validation) {
        const double val = rmse_na(predict(model, validation->inputs), validation->targets, data.amplification);
        result.val_rmse_na.push_back(val);
        status += fmt::format(", val {:.4g} nA", val);
        if (epoch == 0 || val < best - options.min_delta) {
          best = val;
          result.best_epoch = epoch;
          since_best = 0;
          best_snapshot = trainer.snapshot();
          checkpoint.epoch = epoch;
          checkpoint.train = result.train_rmse_na;
          checkpoint.val = result.val_rmse_na;
          checkpoint.min_val = best;
          save_model_file(result.model_file, checkpoint, trainer, best_snapshot);
        } else if (options.patience > 0 && ++since_best >= options.patience) {
          progress.set_status(status);
          progress.advance();
          result.stopped_early = true;
          log::info("early stopping after epoch {}: no validation improvement > {} nA for {} epochs "
                    "(best {:.5g} nA at epoch {})",
                    epoch, options.min_delta, options.patience, best, result.best_epoch);
          break;
        }
      }
      progress.set_status(status);
      progress.advance();
    }
  }
  result.train_seconds = step_seconds;
  result.samples_per_second = step_seconds > 0 ? static_cast<double>(samples_stepped) / step_seconds : 0;
  if (validation) {
    trainer.restore(best_snapshot);
  } else {
    result.best_epoch = result.epochs_run - 1;
    best_snapshot = trainer.snapshot();
  }
  log::info("trained {} epochs in {:.2f} s ({:.0f} samples/s); best epoch {}", result.epochs_run,
            step_seconds, result.samples_per_second, result.best_epoch);

  // Evaluation of every split on the kept model.
  std::optional<double> test_rmse;
  nlohmann::json metrics_file;
  for (const auto& split : data.splits) {
    if (!split) continue;
    const at::Tensor predictions = predict(model, split->inputs);
    SplitMetrics m = split_metrics(split->label, predictions, split->targets, data.amplification);
    log::info("{}: RMSE {:.5g} nA ({:.3g}% of the {:.4g} nA range), R² {:.5f}, MAE {:.4g} nA, max error {:.4g} nA",
              m.label, m.rmse_na, m.rmse_percent_of_range, m.output_range_na, m.r2, m.mae_na,
              m.max_error_na);
    if (split->label == "TEST") test_rmse = m.rmse_na;
    if (options.plots) {
      const at::Tensor scale = amplification_row(data.amplification);
      plot_split(result.run_dir, m, predictions.to(at::kDouble) * scale, split->targets.to(at::kDouble) * scale);
    }
    metrics_file[m.label] = metrics_json(m);
    result.metrics.push_back(std::move(m));
  }
  if (options.plots) plot_profile(result.run_dir, result, test_rmse);

  checkpoint.epoch = result.best_epoch;
  checkpoint.train = result.train_rmse_na;
  checkpoint.val = result.val_rmse_na;
  checkpoint.min_val = validation ? std::optional<double>(best) : std::nullopt;
  checkpoint.test = test_rmse;
  save_model_file(result.model_file, checkpoint, trainer, best_snapshot);

  metrics_file["seed"] = result.seed;
  metrics_file["best_epoch"] = result.best_epoch;
  metrics_file["epochs_run"] = result.epochs_run;
  metrics_file["stopped_early"] = result.stopped_early;
  metrics_file["train_seconds"] = result.train_seconds;
  metrics_file["samples_per_second"] = result.samples_per_second;
  metrics_file["fused"] = result.fused;
  std::ofstream(result.run_dir / "metrics.json") << metrics_file.dump(2) << "\n";
  log::info("model saved in {}", result.model_file.string());
  return result;
}

}  // namespace brains::smg
