#include "ring_outputs.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

namespace brains::tasks {

namespace {

io::Series scatter(std::string label, std::vector<double> x, std::vector<double> y) {
  return {std::move(label), std::move(x), std::move(y), io::PlotKind::scatter};
}

io::PlotSpec input_plot(const RingDataset& data) {
  io::PlotSpec spec(fmt::format("Ring data (gap {:g}, {} samples)", data.gap, data.inputs.size(0)));
  spec.xlabel = "x";
  spec.ylabel = "y";
  spec.kind = io::PlotKind::scatter;
  for (const int cls : {0, 1}) {
    const at::Tensor rows = data.inputs.index({data.targets.select(1, 0) == cls});
    spec.add(scatter(cls == 0 ? "class 0 (disc)" : "class 1 (ring)", ring_values(rows.select(1, 0)),
                     ring_values(rows.select(1, 1))));
  }
  return spec;
}

// Output per sample, class 0 first (as upstream sorted by target), with the threshold.
io::PlotSpec output_plot(const std::string& name, const RingSplitResult& split, double threshold) {
  io::PlotSpec spec(fmt::format("{} output (accuracy {:.2f} %)", name, split.accuracy_percent));
  spec.xlabel = "sample (sorted by class)";
  spec.ylabel = "output (nA)";
  spec.kind = io::PlotKind::scatter;
  if (split.output.size(0) == 0) return spec;
  double next = 0;
  for (const int cls : {0, 1}) {
    const std::vector<double> y =
        ring_values(split.output.index({split.targets.select(1, 0) == cls}));
    std::vector<double> x(y.size());
    for (auto& v : x) v = next++;
    spec.add(scatter(fmt::format("class {}", cls), std::move(x), y));
  }
  if (std::isfinite(threshold))
    spec.add({"threshold", {0.0, next - 1}, {threshold, threshold}, io::PlotKind::line});
  return spec;
}

io::PlotSpec profile_plot(const RingRunResult& run) {
  const bool genetic = run.algorithm == "genetic";
  io::PlotSpec spec(genetic ? "Fitness per generation" : "Loss per epoch");
  spec.xlabel = genetic ? "generation" : "epoch";
  spec.ylabel = run.criterion;
  spec.add({genetic ? "best" : "training", {}, run.history, std::nullopt});
  if (!run.second_history.empty())
    spec.add({genetic ? "mean" : "validation", {}, run.second_history, std::nullopt});
  return spec;
}

void add_split(algorithms::RunOutputs& out, const std::string& name, const RingSplitResult& split) {
  out.numbers.push_back({name + "_accuracy_percent", split.accuracy_percent});
  out.numbers.push_back({name + "_performance", split.performance});
  out.numbers.push_back({name + "_correlation", split.correlation});
  out.numbers.push_back({name + "_fisher", split.fisher});
  out.arrays.push_back({name + "_inputs", split.inputs.contiguous()});
  out.arrays.push_back({name + "_targets", split.targets.contiguous()});
  out.arrays.push_back({name + "_output", split.output.contiguous()});
}

at::Tensor doubles(const std::vector<double>& values) {
  return at::tensor(at::ArrayRef<double>(values), at::kDouble);
}

}  // namespace

std::vector<double> ring_values(const at::Tensor& t) {
  if (!t.defined() || t.numel() == 0) return {};
  const at::Tensor c = t.detach().to(at::kDouble).contiguous().view({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

algorithms::RunOutputs ring_run_outputs(const RingRunResult& run, const RingDataset& data,
                                        const RingOptions& options) {
  algorithms::RunOutputs out;
  out.algorithm = run.algorithm;
  out.config = options.resolved_config(run.gap);
  // Seeds as text as well: JSON numbers lose integers above 2^53.
  out.texts = {{"criterion", run.criterion},
               {"seed", std::to_string(run.seed)},
               {"data_seed", std::to_string(data.seed)},
               {"accuracy_method", "optimal threshold on the training output"}};
  out.numbers = {{"gap", run.gap},
                 {"threshold_na", run.threshold},
                 {"positive_above", run.positive_above ? 1.0 : 0.0},
                 {"seconds", run.seconds}};
  add_split(out, "train", run.train);
  add_split(out, "validation", run.validation);
  add_split(out, "test", run.test);
  out.arrays.push_back({"control_voltages", run.control_voltages});
  out.arrays.push_back({"history", doubles(run.history)});
  out.arrays.push_back({"second_history", doubles(run.second_history)});
  out.arrays.push_back({"gap", at::tensor({run.gap}, at::kDouble)});
  out.plots.push_back({"input", {input_plot(data)}});
  out.plots.push_back({"outputs",
                       {output_plot("Train", run.train, run.threshold),
                        output_plot("Validation", run.validation, run.threshold),
                        output_plot("Test", run.test, run.threshold)}});
  out.plots.push_back({"training_profile", {profile_plot(run)}});
  return out;
}

algorithms::RunOutputs ring_search_outputs(const RingSearchResult& search, const RingDataset& data,
                                           const RingOptions& options) {
  const RingRunResult& best = search.runs.at(search.best);
  algorithms::RunOutputs out = ring_run_outputs(best, data, options);
  out.texts.insert(out.texts.begin(), {"task", "ring_searcher"});
  out.texts.push_back({"select_by", options.select_by()});
  const auto runs = static_cast<std::int64_t>(search.runs.size());
  at::Tensor seeds = at::empty({runs}, at::kLong);
  at::Tensor accuracy = at::empty({runs, 3}, at::kDouble);  // train, validation, test
  at::Tensor performance = at::empty({runs, 3}, at::kDouble);
  at::Tensor correlation = at::empty({runs, 3}, at::kDouble);
  at::Tensor fisher = at::empty({runs, 3}, at::kDouble);
  std::vector<at::Tensor> controls;
  std::vector<double> test_accuracy, test_fisher;
  for (std::int64_t r = 0; r < runs; ++r) {
    const RingRunResult& run = search.runs[r];
    seeds[r] = static_cast<std::int64_t>(run.seed);
    const RingSplitResult* splits[3] = {&run.train, &run.validation, &run.test};
    for (int s = 0; s < 3; ++s) {
      accuracy[r][s] = splits[s]->accuracy_percent;
      performance[r][s] = splits[s]->performance;
      correlation[r][s] = splits[s]->correlation;
      fisher[r][s] = splits[s]->fisher;
    }
    controls.push_back(run.control_voltages.reshape({-1}));
    test_accuracy.push_back(run.test.accuracy_percent);
    test_fisher.push_back(run.test.fisher);
  }
  const at::Tensor test = accuracy.select(1, 2);
  out.numbers.push_back({"runs", static_cast<double>(runs)});
  out.numbers.push_back({"best_run", static_cast<double>(search.best)});
  out.numbers.push_back({"mean_test_accuracy_percent", test.mean().item<double>()});
  out.numbers.push_back(
      {"std_test_accuracy_percent", runs > 1 ? test.std().item<double>() : 0.0});
  out.arrays.push_back({"seeds", seeds});
  out.arrays.push_back({"accuracy_per_run", accuracy});
  out.arrays.push_back({"performance_per_run", performance});
  out.arrays.push_back({"correlation_per_run", correlation});
  out.arrays.push_back({"fisher_per_run", fisher});
  out.arrays.push_back({"control_voltages_per_run", at::stack(controls)});
  io::PlotSpec versus("Test accuracy against Fisher discriminant, per run");
  versus.xlabel = "Fisher discriminant (test)";
  versus.ylabel = "accuracy (%)";
  versus.kind = io::PlotKind::scatter;
  versus.add(scatter("run", test_fisher, test_accuracy));
  io::PlotSpec histogram("Test accuracy over runs");
  histogram.xlabel = "accuracy (%)";
  histogram.ylabel = "runs";
  histogram.kind = io::PlotKind::histogram;
  histogram.bins = 20;
  histogram.add({"test", {}, test_accuracy, std::nullopt});
  out.plots.push_back({"accuracy_vs_fisher", {versus}});
  out.plots.push_back({"accuracy_histogram", {histogram}});
  return out;
}

}  // namespace brains::tasks
