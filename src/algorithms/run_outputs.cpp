#include "brains/algorithms/run_outputs.h"

#include <ATen/ATen.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/io/npz.h"

namespace brains::algorithms {

namespace {

std::vector<double> values_of(const at::Tensor& t) {
  if (!t.defined() || t.numel() == 0) return {};
  const at::Tensor c = t.detach().to(at::kDouble).cpu().contiguous().view({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

io::Series series(std::string label, std::vector<double> y) {
  return {std::move(label), {}, std::move(y), std::nullopt};
}

at::Tensor tensor_of(const std::vector<double>& values) {
  return at::tensor(at::ArrayRef<double>(values), at::kDouble);
}

// One series per output column, over the point index.
io::PlotSpec columns_plot(const std::string& title, const std::string& label,
                          const at::Tensor& data) {
  io::PlotSpec spec(title);
  spec.xlabel = "point";
  spec.ylabel = label;
  spec.kind = io::PlotKind::line;
  if (!data.defined() || data.numel() == 0) return spec;
  const at::Tensor matrix = data.detach().reshape({data.size(0), -1});
  for (std::int64_t c = 0; c < matrix.size(1); ++c)
    spec.add(series(matrix.size(1) == 1 ? label : label + " " + std::to_string(c),
                    values_of(matrix.select(1, c))));
  return spec;
}

std::vector<io::PlotSpec> output_vs_target(const at::Tensor& output, const at::Tensor& target) {
  return {columns_plot("Output", "output (nA)", output), columns_plot("Target", "target", target)};
}

nlohmann::json number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

void write_run_outputs(const std::filesystem::path& run_dir, const RunOutputs& outputs) {
  if (!std::filesystem::is_directory(run_dir))
    throw Error("cannot write run outputs: " + run_dir.string() + " is not a directory");
  std::vector<std::string> files;
  if (outputs.config) {
    outputs.config->save(run_dir / "config.yaml");
    files.push_back("config.yaml");
  }
  if (!outputs.arrays.empty()) {
    io::write_npz(run_dir / "results.npz", outputs.arrays);
    files.push_back("results.npz");
  }
  for (const auto& [name, panels] : outputs.plots) {
    const auto png = run_dir / (name + ".png");
    if (panels.size() == 1)
      io::plot(png, panels.front());
    else
      io::plot_grid(png, static_cast<int>(panels.size()), 1, panels);
    files.push_back(name + ".png");
    files.push_back(name + ".csv");
  }
  nlohmann::json summary;
  summary["algorithm"] = outputs.algorithm;
  for (const auto& [key, value] : outputs.texts) summary[key] = value;
  for (const auto& [key, value] : outputs.numbers) summary[key] = number(value);
  summary["files"] = files;
  const auto file = run_dir / "summary.json";
  std::ofstream stream(file, std::ios::binary | std::ios::trunc);
  stream << summary.dump(2) << "\n";
  stream.flush();
  if (!stream) throw Error("cannot write " + file.string() + ": " + std::strerror(errno));
}

RunOutputs genetic_run_outputs(const GeneticResult& result, const std::optional<Config>& config) {
  RunOutputs out;
  out.algorithm = "genetic";
  out.config = config;
  out.texts = {{"criterion", result.criterion}};
  out.numbers = {{"seed", static_cast<double>(result.seed)},
                 {"best_fitness", result.best_fitness},
                 {"best_correlation", result.best_correlation},
                 {"best_generation", static_cast<double>(result.best_generation)},
                 {"generations_run", static_cast<double>(result.generations_run)},
                 {"stopped_early", result.stopped_early ? 1.0 : 0.0},
                 {"seconds", result.seconds}};
  out.arrays = {{"fitness_history", result.fitness_history},
                {"correlation_history", result.correlation_history},
                {"mean_fitness_history", result.mean_fitness_history},
                {"genome_history", result.genome_history},
                {"best_genome", result.best_genome}};
  if (result.best_output.defined()) out.arrays.push_back({"best_output", result.best_output});
  if (result.targets.defined()) out.arrays.push_back({"targets", result.targets});

  io::PlotSpec fitness("Fitness per generation");
  fitness.xlabel = "generation";
  fitness.ylabel = result.criterion;
  fitness.add(series("best", values_of(result.fitness_history)));
  fitness.add(series("mean", values_of(result.mean_fitness_history)));
  io::PlotSpec correlation("Correlation of the best genome");
  correlation.xlabel = "generation";
  correlation.ylabel = "correlation";
  correlation.add(series("correlation", values_of(result.correlation_history)));
  out.plots.push_back({"fitness_history", {fitness, correlation}});
  if (result.best_output.defined())
    out.plots.push_back({"output_vs_target", output_vs_target(result.best_output, result.targets)});
  return out;
}

RunOutputs gradient_run_outputs(const GradientDescentResult& result,
                                const std::optional<Config>& config) {
  RunOutputs out;
  out.algorithm = "gradient";
  out.config = config;
  out.texts = {{"criterion", result.criterion}, {"constraint", result.constraint}};
  out.numbers = {{"seed", static_cast<double>(result.seed)},
                 {"best_epoch", static_cast<double>(result.best_epoch)},
                 {"best_loss", result.best_loss},
                 {"epochs_run", static_cast<double>(result.epochs_run)},
                 {"stopped_early", result.stopped_early ? 1.0 : 0.0},
                 {"seconds", result.seconds}};
  if (!result.train_losses.empty())
    out.numbers.push_back({"final_train_loss", result.train_losses.back()});
  if (!result.val_losses.empty())
    out.numbers.push_back({"final_val_loss", result.val_losses.back()});
  out.arrays = {{"train_losses", tensor_of(result.train_losses)},
                {"val_losses", tensor_of(result.val_losses)},
                {"regularizer_history", tensor_of(result.regularizer_history)},
                {"learning_rates", tensor_of(result.learning_rates)}};
  if (result.train_output.defined()) out.arrays.push_back({"train_output", result.train_output});
  if (result.train_targets.defined()) out.arrays.push_back({"train_targets", result.train_targets});

  io::PlotSpec losses("Loss per epoch");
  losses.xlabel = "epoch";
  losses.ylabel = result.criterion;
  losses.add(series("training", result.train_losses));
  if (!result.val_losses.empty()) losses.add(series("validation", result.val_losses));
  out.plots.push_back({"loss_history", {losses}});
  if (result.train_output.defined())
    out.plots.push_back(
        {"output_vs_target", output_vs_target(result.train_output, result.train_targets)});
  return out;
}

}  // namespace brains::algorithms
