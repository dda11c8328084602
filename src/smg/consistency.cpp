#include "brains/smg/consistency.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/core/run_directory.h"
#include "brains/io/npz.h"
#include "brains/io/plot.h"
#include "brains/io/sampler_configs.h"
#include "brains/smg/sampler.h"
#include "brains/smg/sampling_options.h"

namespace brains::smg {

namespace fs = std::filesystem;

namespace {

struct StoredSignal {
  at::Tensor inputs;   // (N, D) V
  at::Tensor outputs;  // (N, r) nA
};

StoredSignal load_signal(const fs::path& file, std::int64_t batch_points, std::int64_t electrodes,
                         std::int64_t readouts) {
  const io::NpzFile npz = io::read_npz(file);
  StoredSignal s{npz.tensor("inputs").to(at::kDouble), npz.tensor("outputs").to(at::kDouble)};
  if (s.inputs.dim() != 2 || s.inputs.size(1) != electrodes)
    throw FormatError(file.string(), "entry inputs",
                      fmt::format("expected ({} samples, {} electrodes), got shape ({})", "N", electrodes,
                                  fmt::join(s.inputs.sizes(), ", ")));
  if (s.outputs.dim() != 2 || s.outputs.size(1) != readouts || s.outputs.size(0) != s.inputs.size(0))
    throw FormatError(file.string(), "entry outputs",
                      fmt::format("expected ({}, {}) to match the inputs, got shape ({})", s.inputs.size(0),
                                  readouts, fmt::join(s.outputs.sizes(), ", ")));
  const std::int64_t n = s.inputs.size(0);
  if (n == 0 || n % batch_points != 0)
    throw FormatError(file.string(), "entry inputs",
                      fmt::format("{} samples is not a whole number of batches of {} samples", n, batch_points));
  return s;
}

at::Tensor model_outputs(processors::ProcessorImpl& model, const at::Tensor& inputs) {
  at::NoGradGuard no_grad;
  return model.forward(inputs.to(at::kFloat)).to(at::kDouble).detach();
}

std::vector<double> values_of(const at::Tensor& t) {
  if (!t.defined() || t.numel() == 0) return {};
  const at::Tensor c = t.detach().to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

io::Series line(std::string label, std::vector<double> y) { return {std::move(label), {}, std::move(y), io::PlotKind::line}; }

std::string suffix(std::int64_t outputs, std::int64_t j) {
  return outputs == 1 ? "" : " " + std::to_string(j);
}

nlohmann::json numbers(const at::Tensor& t) {
  nlohmann::json out = nlohmann::json::array();
  for (const double v : values_of(t)) out.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
  return out;
}

void write_outputs(const fs::path& dir, const ConsistencyResult& r, const StoredSignal& reference,
                   std::int64_t batch_points, bool charged, const at::Tensor& first_batch_original,
                   const at::Tensor& first_batch_measured, const at::Tensor& first_batch_model) {
  const bool with_model = r.model_results.defined();
  const std::int64_t outputs = r.results.size(2);
  std::vector<std::pair<std::string, at::Tensor>> arrays{
      {"results", r.results}, {"deviations", r.deviations}, {"correlation", r.correlation},
      {"reference_outputs", reference.outputs}};
  if (charged) arrays.push_back({"deviation_chargeup", r.deviation_chargeup});
  if (with_model) {
    arrays.push_back({"model_results", r.model_results});
    arrays.push_back({"model_deviations", r.model_deviations});
    arrays.push_back({"model_correlation", r.model_correlation});
    arrays.push_back({"device_model_deviations", r.device_model_deviations});
    arrays.push_back({"device_model_correlation", r.device_model_correlation});
    if (charged) arrays.push_back({"model_deviation_chargeup", r.model_deviation_chargeup});
  }
  io::write_npz(dir / "consistency_results.npz", arrays);

  // Reference, device mean ± std over repetitions, and the model, per output.
  const at::Tensor mean = r.results.mean(0);
  const at::Tensor spread = r.results.size(0) > 1 ? r.results.std(0) : at::zeros_like(mean);
  std::vector<io::PlotSpec> panels;
  for (std::int64_t j = 0; j < outputs; ++j) {
    io::PlotSpec spec("Output" + suffix(outputs, j) + ": device vs reference");
    spec.xlabel = "sample";
    spec.ylabel = "current (nA)";
    spec.add(line("reference", values_of(reference.outputs.select(1, j))));
    spec.add(line("device mean", values_of(mean.select(1, j))));
    spec.add(line("device mean + std", values_of((mean + spread).select(1, j))));
    spec.add(line("device mean - std", values_of((mean - spread).select(1, j))));
    if (with_model) spec.add(line("model", values_of(r.model_results.select(1, j))));
    panels.push_back(std::move(spec));
  }
  io::plot_grid(dir / "consistency_check.png", static_cast<int>(outputs), 1, panels, "Consistency check");

  io::PlotSpec hist("Deviation from the reference");
  hist.xlabel = "|mean - reference| (nA)";
  hist.ylabel = "count";
  hist.kind = io::PlotKind::histogram;
  hist.bins = 100;
  hist.add({"device", {}, values_of((mean - reference.outputs).abs()), std::nullopt});
  if (with_model) hist.add({"model", {}, values_of((r.model_results - reference.outputs).abs()), std::nullopt});
  io::plot(dir / "deviations_histogram.png", hist);

  if (charged) {
    io::PlotSpec charge("Deviations while charging up");
    charge.xlabel = "charging batch";
    charge.ylabel = "RMSE current (nA)";
    for (std::int64_t j = 0; j < outputs; ++j) {
      charge.add(line("device vs stored" + suffix(outputs, j), values_of(r.deviation_chargeup.select(1, j))));
      if (with_model)
        charge.add(line("device vs model" + suffix(outputs, j), values_of(r.model_deviation_chargeup.select(1, j))));
    }
    io::plot(dir / "deviations_while_charging_up.png", charge);

    io::PlotSpec first("First charging batch");
    first.xlabel = "sample";
    first.ylabel = "current (nA)";
    for (std::int64_t j = 0; j < outputs; ++j) {
      first.add(line("original" + suffix(outputs, j), values_of(first_batch_original.select(1, j))));
      first.add(line("measured" + suffix(outputs, j), values_of(first_batch_measured.select(1, j))));
      if (with_model) first.add(line("model" + suffix(outputs, j), values_of(first_batch_model.select(1, j))));
    }
    io::plot(dir / "first_batch.png", first);
  }

  nlohmann::json summary;
  summary["repetitions"] = r.results.size(0);
  summary["reference_samples"] = r.results.size(1);
  summary["reference_batches"] = r.results.size(1) / batch_points;
  summary["outputs"] = outputs;
  summary["mean_deviation_nA"] = numbers(r.deviations.mean(0));
  summary["mean_correlation"] = numbers(r.correlation.mean(0));
  summary["deviations_nA"] = numbers(r.deviations);
  summary["correlation"] = numbers(r.correlation);
  if (charged) summary["chargeup_last_deviation_nA"] = numbers(r.deviation_chargeup[-1]);
  if (with_model) {
    summary["model_deviation_nA"] = numbers(r.model_deviations);
    summary["model_correlation"] = numbers(r.model_correlation);
    summary["device_model_mean_deviation_nA"] = numbers(r.device_model_deviations.mean(0));
  }
  const fs::path file = dir / "consistency_summary.json";
  std::ofstream stream(file, std::ios::binary | std::ios::trunc);
  stream << summary.dump(2) << "\n";
  stream.flush();
  if (!stream) throw Error("cannot write " + file.string() + ": " + std::strerror(errno));
}

}  // namespace

ConsistencyOptions ConsistencyOptions::from_config(const Config& configs) {
  configs.warn_unknown_keys({"data_dir", "main_dir", "results_dir", "repetitions", "charge_device",
                             "sampler_configs_name", "reference_batch_name", "charging_signal_name", "model"});
  ConsistencyOptions o;
  std::string used;
  const auto dir = configs.find_any({"data_dir", "main_dir"}, &used);
  if (!dir) throw ConfigError(configs.key_path("data_dir"), "missing: the sampling run directory to check");
  o.data_dir = dir->as<std::string>();
  o.results_dir = configs.get<std::string>("results_dir", "");
  o.repetitions = configs.get<std::int64_t>("repetitions", o.repetitions);
  if (o.repetitions < 1)
    throw ConfigError(configs.key_path("repetitions"), "expected a positive integer, got " + std::to_string(o.repetitions));
  o.charge_device = configs.get<bool>("charge_device", o.charge_device);
  o.sampler_configs_name = configs.get<std::string>("sampler_configs_name", o.sampler_configs_name);
  o.reference_batch_name = configs.get<std::string>("reference_batch_name", o.reference_batch_name);
  o.charging_signal_name = configs.get<std::string>("charging_signal_name", o.charging_signal_name);
  if (configs.has("model")) o.model = configs.get<std::string>("model");
  return o;
}

at::Tensor rmse_per_output(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).pow(2).mean(0).sqrt();
}

at::Tensor pearson_per_output(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kDouble) - a.to(at::kDouble).mean(0);
  const at::Tensor y = b.to(at::kDouble) - b.to(at::kDouble).mean(0);
  return (x * y).sum(0) / (x.pow(2).sum(0) * y.pow(2).sum(0)).sqrt();
}

ConsistencyResult check_consistency(const ConsistencyOptions& options, processors::Processor device,
                                    std::optional<processors::Processor> model,
                                    const std::optional<Config>& config) {
  struct CloseDevice {
    processors::Processor p;
    ~CloseDevice() {
      try {
        p->close();
      } catch (const std::exception& e) {
        log::error("cannot close the driver: {}", e.what());
      }
    }
  } close_device{device};

  const fs::path config_file = options.data_dir / options.sampler_configs_name;
  if (!fs::exists(config_file))
    throw FormatError(config_file.string(), "", "cannot read sampling config: file missing");
  const Config sampling = Config(io::read_sampler_configs(config_file));
  const SamplingOptions plan = SamplingOptions::from_config(sampling, *device, 0);
  const std::int64_t b = plan.batch_points, d = plan.activation_electrode_no, r = plan.readout_electrode_no;
  const StoredSignal reference = load_signal(options.data_dir / options.reference_batch_name, b, d, r);
  std::optional<StoredSignal> charging;
  if (options.charge_device) charging = load_signal(options.data_dir / options.charging_signal_name, b, d, r);

  ConsistencyResult result;
  result.run_dir = create_run_directory(options.results_dir.empty() ? options.data_dir : options.results_dir,
                                        "consistency_check");
  const log::FileSink log_file(result.run_dir / "run.log");
  if (config) config->save(result.run_dir / "config.yaml");
  log::info("consistency check of {}: {} reference batches × {} repetitions{}", options.data_dir.string(),
            reference.inputs.size(0) / b, options.repetitions,
            charging ? fmt::format(", after {} charging batches", charging->inputs.size(0) / b) : "");

  at::Tensor first_original, first_measured, first_model;
  if (charging) {
    const std::int64_t batches = charging->inputs.size(0) / b;
    result.deviation_chargeup = at::empty({batches, r}, at::kDouble);
    if (model) result.model_deviation_chargeup = at::empty({batches, r}, at::kDouble);
    ProgressBar bar("charging", batches);
    for (std::int64_t k = 0; k < batches; ++k) {
      throw_if_interrupted("consistency check");
      const at::Tensor x = charging->inputs.narrow(0, k * b, b);
      const at::Tensor stored = charging->outputs.narrow(0, k * b, b);
      const at::Tensor y = measure_batch(*device, x, plan.ramp_points);
      result.deviation_chargeup[k] = rmse_per_output(y, stored);
      at::Tensor m;
      if (model) {
        m = model_outputs(**model, x);
        result.model_deviation_chargeup[k] = rmse_per_output(y, m);
      }
      if (k == 0) {
        first_original = stored;
        first_measured = y;
        first_model = m;
      }
      bar.advance();
    }
    log::info("charging: RMSE vs stored outputs went from {:.4g} to {:.4g} nA",
              result.deviation_chargeup[0].mean().item<double>(), result.deviation_chargeup[-1].mean().item<double>());
  }

  const std::int64_t n = reference.inputs.size(0), batches = n / b;
  result.results = at::empty({options.repetitions, n, r}, at::kDouble);
  ProgressBar bar("reference", options.repetitions * batches);
  for (std::int64_t t = 0; t < options.repetitions; ++t) {
    for (std::int64_t k = 0; k < batches; ++k) {
      throw_if_interrupted("consistency check");
      result.results[t].narrow(0, k * b, b).copy_(measure_batch(*device, reference.inputs.narrow(0, k * b, b), plan.ramp_points));
      bar.advance();
    }
  }
  bar.finish();
  device->close();
  result.deviations = at::empty({options.repetitions, r}, at::kDouble);
  result.correlation = at::empty({options.repetitions, r}, at::kDouble);
  for (std::int64_t t = 0; t < options.repetitions; ++t) {
    result.deviations[t] = rmse_per_output(result.results[t], reference.outputs);
    result.correlation[t] = pearson_per_output(result.results[t], reference.outputs);
  }
  if (model) {
    result.model_results = model_outputs(**model, reference.inputs);
    result.model_deviations = rmse_per_output(result.model_results, reference.outputs);
    result.model_correlation = pearson_per_output(result.model_results, reference.outputs);
    result.device_model_deviations = at::empty({options.repetitions, r}, at::kDouble);
    result.device_model_correlation = at::empty({options.repetitions, r}, at::kDouble);
    for (std::int64_t t = 0; t < options.repetitions; ++t) {
      result.device_model_deviations[t] = rmse_per_output(result.results[t], result.model_results);
      result.device_model_correlation[t] = pearson_per_output(result.results[t], result.model_results);
    }
  }
  for (std::int64_t j = 0; j < r; ++j) {
    log::info("output {}: RMSE {:.4g} nA, r = {:.4f} vs the reference (mean over {} repetitions){}", j,
              result.deviations.select(1, j).mean().item<double>(),
              result.correlation.select(1, j).mean().item<double>(), options.repetitions,
              model ? fmt::format("; model: RMSE {:.4g} nA, r = {:.4f}", result.model_deviations[j].item<double>(),
                                  result.model_correlation[j].item<double>())
                    : "");
  }
  write_outputs(result.run_dir, result, reference, b, charging.has_value(), first_original, first_measured,
                first_model);
  return result;
}

}  // namespace brains::smg
